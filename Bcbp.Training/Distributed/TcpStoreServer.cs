using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bcbp.Training.Distributed;

/// <summary>
/// The rendezvous store's server (rank 0 runs it, as torch.distributed.TCPStore's master does): a key-value map in
/// memory that every rank reaches through a <see cref="TcpStore"/> client. A request waits on the server (not by
/// polling) until its keys exist or its timeout passes. One thread per connection: a job has one connection per rank.
/// </summary>
public sealed class TcpStoreServer : IDisposable
{
    readonly TcpListener _listener;
    readonly Dictionary<string, byte[]> _values = new();
    readonly List<TcpClient> _clients = new();
    readonly Thread _acceptor;
    volatile bool _stopped;

    /// <summary>The port it listens on (the one asked for, or the one the system chose for port 0).</summary>
    public int Port { get; }

    /// <summary>The job this store serves: clients' keys live under it, and a client naming another job is refused.</summary>
    public string JobId { get; }

    /// <summary>Listens on every interface at <paramref name="port"/> (0: any free port, for tests) for job
    /// <paramref name="jobId"/> (null: a fresh random id, which the clients learn when they connect).</summary>
    /// <exception cref="IOException">The port is taken or cannot be bound; the message names it and the fix.</exception>
    public TcpStoreServer(int port, string? jobId = null)
    {
        JobId = string.IsNullOrEmpty(jobId) ? Guid.NewGuid().ToString("N") : jobId;
        try { _listener = Listen(port); }
        catch (SocketException e)
        {
            throw new IOException($"rendezvous: rank 0 cannot listen on port {port} ({e.SocketErrorCode}): another job or a stopped one still " +
                                  "holds it; set MASTER_PORT to a free port (or --master-port).", e);
        }
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptor = new Thread(Accept) { IsBackground = true, Name = "bcbp-store-accept" };
        _acceptor.Start();
    }

    /// <summary>IPv6 and IPv4 on one dual-mode socket; IPv4 alone where IPv6 is disabled (a kernel booted with
    /// ipv6.disable=1, some containers), where the IPv6 socket cannot even be made.</summary>
    static TcpListener Listen(int port)
    {
        if (Socket.OSSupportsIPv6)
        {
            TcpListener? dual = null;
            try
            {
                dual = new TcpListener(IPAddress.IPv6Any, port);
                dual.Server.DualMode = true;
                dual.Start(backlog: 1024);
                return dual;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.ProtocolNotSupported
                                                or SocketError.AddressNotAvailable or SocketError.ProtocolFamilyNotSupported)
            {
                dual?.Stop();
            }
        }
        var v4 = new TcpListener(IPAddress.Any, port);
        v4.Start(backlog: 1024);
        return v4;
    }

    void Accept()
    {
        while (!_stopped)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) { return; }
            client.NoDelay = true;
            lock (_clients) _clients.Add(client);
            new Thread(() => Serve(client)) { IsBackground = true, Name = "bcbp-store-conn" }.Start();
        }
    }

    void Serve(TcpClient client)
    {
        try
        {
            using var stream = client.GetStream();
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            while (!_stopped)
            {
                var op = (StoreOp)reader.ReadByte();
                switch (op)
                {
                    case StoreOp.Set:
                    {
                        string key = reader.ReadString();
                        byte[] value = StoreWire.ReadExactly(reader, reader.ReadInt32());
                        lock (_values) { _values[key] = value; Monitor.PulseAll(_values); }
                        writer.Write((byte)StoreStatus.Ok);
                        break;
                    }
                    case StoreOp.Get:
                    {
                        string key = reader.ReadString();
                        long timeoutMs = reader.ReadInt64();
                        byte[]? value = null;
                        bool found = WaitFor(new[] { key }, timeoutMs, () => value = _values[key]);
                        writer.Write((byte)(found ? StoreStatus.Ok : StoreStatus.Timeout));
                        if (found) { writer.Write(value!.Length); writer.Write(value); }
                        break;
                    }
                    case StoreOp.Add:
                    {
                        string key = reader.ReadString();
                        long delta = reader.ReadInt64();
                        long next;
                        lock (_values)
                        {
                            next = (_values.TryGetValue(key, out var old) ? BitConverter.ToInt64(old) : 0) + delta;
                            _values[key] = BitConverter.GetBytes(next);
                            Monitor.PulseAll(_values);
                        }
                        writer.Write((byte)StoreStatus.Ok);
                        writer.Write(next);
                        break;
                    }
                    case StoreOp.Wait:
                    {
                        int count = reader.ReadInt32();
                        if (count is < 0 or > 1 << 16) return; // not our protocol: a job waits on a few keys at once
                        var keys = new string[count];
                        for (int i = 0; i < keys.Length; i++) keys[i] = reader.ReadString();
                        long timeoutMs = reader.ReadInt64();
                        writer.Write((byte)(WaitFor(keys, timeoutMs, () => { }) ? StoreStatus.Ok : StoreStatus.Timeout));
                        break;
                    }
                    case StoreOp.DeletePrefix:
                    {
                        string prefix = reader.ReadString();
                        int removed;
                        lock (_values)
                        {
                            var keys = _values.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                            foreach (var k in keys) _values.Remove(k);
                            removed = keys.Count;
                        }
                        writer.Write((byte)StoreStatus.Ok);
                        writer.Write(removed);
                        break;
                    }
                    case StoreOp.Hello:
                    {
                        // A client names its job (or "" to learn it): one of another job gets this store's id and an error.
                        string job = reader.ReadString();
                        writer.Write((byte)(job.Length == 0 || job == JobId ? StoreStatus.Ok : StoreStatus.OtherJob));
                        writer.Write(JobId);
                        break;
                    }
                    default:
                        return; // not our protocol: drop the connection
                }
                writer.Flush();
            }
        }
        // Whatever a connection sends (a port scanner, another program on MASTER_PORT, a truncated request), only that
        // connection is dropped: an exception escaping this background thread would end rank 0's process.
        catch (Exception) { }
        finally
        {
            lock (_clients) _clients.Remove(client);
            client.Dispose();
        }
    }

    /// <summary>Waits until every key exists (then runs <paramref name="read"/> under the lock) or the timeout passes.</summary>
    bool WaitFor(string[] keys, long timeoutMs, Action read)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        lock (_values)
        {
            while (!keys.All(_values.ContainsKey))
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || _stopped) return false;
                Monitor.Wait(_values, left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
            }
            read();
            return true;
        }
    }

    /// <summary>Waits until at most <paramref name="clients"/> connections are open (the other ranks have closed theirs),
    /// or <paramref name="timeout"/> has passed: rank 0 must not close the store under a rank still reading its last
    /// reply.</summary>
    public void WaitForClients(int clients, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            lock (_clients) if (_clients.Count <= clients) return;
            Thread.Sleep(20);
        }
    }

    /// <summary>Number of keys held (tests check that collectives clean up after themselves).</summary>
    public int KeyCount { get { lock (_values) return _values.Count; } }

    /// <summary>Stops listening and closes every connection.</summary>
    public void Dispose()
    {
        if (_stopped) return;
        _stopped = true;
        _listener.Stop();
        lock (_clients) foreach (var c in _clients) c.Dispose();
        lock (_values) Monitor.PulseAll(_values);
    }
}

/// <summary>Reads of the store's wire protocol shared by the client and the server.</summary>
static class StoreWire
{
    /// <summary>The most bytes one value may have (a length beyond it is not our protocol).</summary>
    public const int MaxValueBytes = int.MaxValue - 1024;

    /// <summary>Exactly <paramref name="count"/> bytes (BinaryReader.ReadBytes returns fewer when the stream ends).</summary>
    /// <exception cref="InvalidDataException">A negative length: not our protocol.</exception>
    /// <exception cref="EndOfStreamException">The connection ended inside the value; the message says after how many bytes.</exception>
    public static byte[] ReadExactly(BinaryReader reader, int count)
    {
        if (count < 0 || count > MaxValueBytes) throw new InvalidDataException($"the store's message declares a value of {count} bytes: not the store's protocol.");
        var bytes = reader.ReadBytes(count);
        if (bytes.Length != count)
            throw new EndOfStreamException($"the connection ended after {bytes.Length} of the value's {count} bytes");
        return bytes;
    }
}

/// <summary>The requests of the store's wire protocol (one byte, then the request's fields).</summary>
enum StoreOp : byte { Set = 1, Get = 2, Add = 3, Wait = 4, DeletePrefix = 5, Hello = 6 }

/// <summary>The first byte of every reply.</summary>
enum StoreStatus : byte { Ok = 0, Timeout = 1, OtherJob = 2 }
