// Client.cs: the client of the C# async-socket tutorial that reach grew from,
// written the way a reader of it would. It tries to connect once a second
// until it gets through, then sends each message as BitConverter.GetBytes of
// its length followed by its UTF-8 bytes, in two Send calls. The tutorial's
// server never answers; a reach server echoes, so after each message it
// waits briefly for a reply frame.
//
//	mcs -out:Client.exe Client.cs && mono Client.exe 11.0.0.2 1234 hola
using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace TutorialClient
{
    class Program
    {
        static Socket master;

        static void Main(string[] args)
        {
            if (args.Length < 3)
            {
                Console.Error.WriteLine("usage: Client.exe HOST PORT MESSAGE...");
                Environment.Exit(2);
            }
            IPEndPoint endPoint = new IPEndPoint(IPAddress.Parse(args[0]), int.Parse(args[1]));
            LoopConnect(endPoint);
            for (int i = 2; i < args.Length; i++)
            {
                Send(args[i]);
                ReadReply();
            }
            master.Close();
        }

        static void LoopConnect(IPEndPoint endPoint)
        {
            int attempts = 0;
            while (master == null || !master.Connected)
            {
                // The tutorial reuses one socket; a socket whose connect
                // failed cannot be reused on Linux, so take a new one.
                Socket socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    attempts++;
                    IAsyncResult ar = socket.BeginConnect(endPoint, null, null);
                    if (ar.AsyncWaitHandle.WaitOne(1000) && ConnectDone(socket, ar))
                    {
                        master = socket;
                        break;
                    }
                    socket.Close();
                }
                catch (SocketException) { socket.Close(); }
                Console.WriteLine("connection attempts: " + attempts);
                Console.Out.Flush();
                Thread.Sleep(1000);
            }
            Console.WriteLine("connected to " + endPoint);
            Console.Out.Flush();
        }

        static bool ConnectDone(Socket socket, IAsyncResult ar)
        {
            socket.EndConnect(ar);
            return socket.Connected;
        }

        static void Send(string message)
        {
            byte[] data = Encoding.UTF8.GetBytes(message);
            master.Send(BitConverter.GetBytes(data.Length));
            master.Send(data);
        }

        static void ReadReply()
        {
            master.ReceiveTimeout = 2000;
            try
            {
                byte[] header = ReceiveAll(4);
                byte[] payload = ReceiveAll(BitConverter.ToInt32(header, 0));
                Console.WriteLine("reply: " + Encoding.UTF8.GetString(payload));
            }
            catch (SocketException)
            {
                Console.WriteLine("no reply");
            }
            Console.Out.Flush();
        }

        static byte[] ReceiveAll(int length)
        {
            if (length < 0 || length > 1 << 20)
                throw new SocketException((int)SocketError.MessageSize);
            byte[] buffer = new byte[length];
            int read = 0;
            while (read < length)
            {
                int n = master.Receive(buffer, read, length - read, SocketFlags.None);
                if (n <= 0)
                    throw new SocketException((int)SocketError.ConnectionReset);
                read += n;
            }
            return buffer;
        }
    }
}
