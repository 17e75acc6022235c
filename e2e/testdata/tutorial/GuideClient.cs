// GuideClient.cs: the client's SendPacket exactly as the C# async-socket
// tutorial prints it, bugs included: the length it sends is data.Length,
// the string's length in characters, and the bytes are
// Encoding.Default.GetBytes(data) (UTF-8 on Mono and .NET Core; the ANSI
// code page, Windows-1252 in Western Europe, on .NET Framework for Windows).
// Any non-ASCII text therefore breaks the framing. It sends every message,
// then closes; it reads nothing.
//
//	mcs -out:GuideClient.exe GuideClient.cs && mono GuideClient.exe 11.0.0.2 1234 año hola
//
// With CODEPAGE=1252 in the environment it encodes as that code page
// instead of Encoding.Default, as a Windows client would.
using System;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GuideClient
{
    class Program
    {
        static Socket master;
        static Encoding encoding = Encoding.Default;

        static void Main(string[] args)
        {
            if (args.Length < 3)
            {
                Console.Error.WriteLine("usage: GuideClient.exe HOST PORT MESSAGE...");
                Environment.Exit(2);
            }
            string cp = Environment.GetEnvironmentVariable("CODEPAGE");
            if (!string.IsNullOrEmpty(cp))
                encoding = Encoding.GetEncoding(int.Parse(cp));
            master = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            master.Connect(new IPEndPoint(IPAddress.Parse(args[0]), int.Parse(args[1])));
            for (int i = 2; i < args.Length; i++)
                SendPacket(args[i]);
            master.Shutdown(SocketShutdown.Send);
            master.Close();
        }

        // SendPacket is the tutorial's.
        static void SendPacket(string data)
        {
            master.Send(BitConverter.GetBytes(data.Length));
            master.Send(encoding.GetBytes(data));
        }
    }
}
