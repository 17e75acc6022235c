// Server.cs: the server of the C# async-socket tutorial that reach grew from,
// written the way a reader of it would. It accepts many clients
// asynchronously, keeps them in a ClientController, reads each message as a
// 4-byte length (BitConverter.ToInt32) followed by that many bytes, prints
// it, and never replies.
//
//	mcs -out:Server.exe Server.cs && mono Server.exe 1234
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace TutorialServer
{
    class Program
    {
        static void Main(string[] args)
        {
            int port = args.Length > 0 ? int.Parse(args[0]) : 1234;
            Listener listener = new Listener(port);
            listener.StartListening();
            Console.WriteLine("listening on port " + port);
            Console.Out.Flush();
            Thread.Sleep(Timeout.Infinite);
        }
    }

    class Listener
    {
        Socket listenerSocket;
        int port;

        public Listener(int port)
        {
            this.port = port;
            listenerSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        }

        public void StartListening()
        {
            listenerSocket.Bind(new IPEndPoint(IPAddress.Any, port));
            listenerSocket.Listen(10);
            listenerSocket.BeginAccept(AcceptCallback, listenerSocket);
        }

        void AcceptCallback(IAsyncResult ar)
        {
            Socket acceptedSocket = listenerSocket.EndAccept(ar);
            ClientController.AddClient(acceptedSocket);
            listenerSocket.BeginAccept(AcceptCallback, listenerSocket);
        }
    }

    static class ClientController
    {
        public static List<Client> Clients = new List<Client>();
        static int nextId = 1;

        public static void AddClient(Socket socket)
        {
            Client client;
            lock (Clients)
            {
                client = new Client(socket, nextId++);
                Clients.Add(client);
            }
            client.Receive.StartReceiving();
        }

        public static void RemoveClient(int id)
        {
            lock (Clients)
            {
                Clients.RemoveAll(c => c.Id == id);
            }
        }
    }

    class Client
    {
        public Socket Socket { get; set; }
        public ReceivePacket Receive { get; set; }
        public int Id { get; set; }

        public Client(Socket socket, int id)
        {
            Receive = new ReceivePacket(socket, id);
            Socket = socket;
            Id = id;
        }
    }

    class ReceivePacket
    {
        byte[] buffer;
        int received;
        Socket receiveSocket;
        int clientId;

        public ReceivePacket(Socket receiveSocket, int id)
        {
            this.receiveSocket = receiveSocket;
            clientId = id;
        }

        public void StartReceiving()
        {
            try
            {
                buffer = new byte[4];
                received = 0;
                receiveSocket.BeginReceive(buffer, 0, buffer.Length, SocketFlags.None, ReceiveCallback, null);
            }
            catch { Disconnect(); }
        }

        void ReceiveCallback(IAsyncResult ar)
        {
            try
            {
                int n = receiveSocket.EndReceive(ar);
                if (n <= 0)
                {
                    Disconnect();
                    return;
                }
                // The tutorial assumes one Receive brings all 4 bytes; TCP
                // does not promise that, so finish the header first.
                received += n;
                if (received < 4)
                {
                    receiveSocket.BeginReceive(buffer, received, 4 - received, SocketFlags.None, ReceiveCallback, null);
                    return;
                }
                int length = BitConverter.ToInt32(buffer, 0);
                if (length < 0 || length > 1 << 20)
                {
                    Console.WriteLine("client " + clientId + ": bad length " + length);
                    Disconnect();
                    return;
                }
                buffer = new byte[length];
                int read = 0;
                while (read < length)
                {
                    int got = receiveSocket.Receive(buffer, read, length - read, SocketFlags.None);
                    if (got <= 0)
                    {
                        Disconnect();
                        return;
                    }
                    read += got;
                }
                string message = Encoding.UTF8.GetString(buffer);
                Console.WriteLine("client " + clientId + ": " + message);
                Console.Out.Flush();
                StartReceiving();
            }
            catch (Exception)
            {
                Disconnect();
            }
        }

        void Disconnect()
        {
            receiveSocket.Close();
            ClientController.RemoveClient(clientId);
            Console.WriteLine("client " + clientId + " disconnected");
            Console.Out.Flush();
        }
    }
}
