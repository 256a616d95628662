using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Bcbp.Training.Distributed;

/// <summary>
/// A client of the rendezvous store (torch.distributed.TCPStore's role): every rank connects to rank 0's
/// <see cref="TcpStoreServer"/> at MASTER_ADDR:MASTER_PORT and exchanges small values through it: the NCCL unique id,
/// barriers, and on the CPU the tensors of <see cref="StoreCollective"/>. <see cref="Get"/> and <see cref="Wait"/>
/// block until the keys exist; every call gives up after the store's timeout with a <see cref="StoreTimeoutException"/>
/// that says which key and which rank waited. Thread-safe (one request at a time).
/// </summary>
public sealed class TcpStore : IDisposable
{
    readonly TcpClient _client;
    readonly BinaryReader _reader;
    readonly BinaryWriter _writer;
    readonly object _lock = new();
    readonly string _where;
    long _barriers;
    bool _disposed;

    /// <summary>How long a blocking call waits before it fails.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Name of this client in error messages ("rank 1 of 4").</summary>
    public string Who { get; }

    TcpStore(TcpClient client, string where, string who, TimeSpan timeout)
    {
        _client = client;
        var stream = client.GetStream();
        _reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        _writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        _where = where;
        Who = who;
        Timeout = timeout;
    }

    /// <summary>Connects to the store at <paramref name="host"/>:<paramref name="port"/>, retrying while nothing
    /// listens there yet (rank 0 may start after the others) until <paramref name="timeout"/> has passed, and joins job
    /// <paramref name="jobId"/> (null or empty: the store's job, learnt here). Every key of this client is then kept
    /// under the job's id, so the keys of two jobs never mix.</summary>
    /// <exception cref="StoreTimeoutException">No store answered in time.</exception>
    /// <exception cref="InvalidOperationException">The store serves another job (one line with the fix).</exception>
    public static TcpStore Connect(string host, int port, TimeSpan timeout, string who = "this rank", string? jobId = null)
    {
        var clock = Stopwatch.StartNew();
        string where = $"{host}:{port}";
        SocketException? last = null;
        while (clock.Elapsed < timeout)
        {
            var client = new TcpClient { NoDelay = true };
            try
            {
                var connect = client.ConnectAsync(host, port);
                if (connect.Wait(TimeSpan.FromSeconds(Math.Max(1, Math.Min(10, (timeout - clock.Elapsed).TotalSeconds)))))
                {
                    var store = new TcpStore(client, where, who, timeout);
                    try { store.Join(jobId ?? ""); }
                    catch { store.Dispose(); throw; }
                    return store;
                }
                client.Dispose();
            }
            catch (AggregateException e) when (e.InnerException is SocketException s)
            {
                last = s;
                client.Dispose();
                Thread.Sleep(100);
            }
        }
        throw new StoreTimeoutException($"rendezvous: {who} could not reach rank 0's store at {where} within {timeout.TotalSeconds:F0} s" +
            (last is null ? "" : $" ({last.SocketErrorCode})") + ": start rank 0, or point MASTER_ADDR/MASTER_PORT at it.");
    }

    /// <summary>The job this client belongs to (the store's).</summary>
    public string JobId { get; private set; } = "";

    /// <summary>The handshake: names this client's job (or none) and learns the store's.</summary>
    void Join(string jobId)
    {
        var status = StoreStatus.Ok;
        string storeJob = Call(StoreOp.Hello, "the job's id", () => _writer.Write(jobId), () => _reader.ReadString(), s => status = s);
        if (status == StoreStatus.OtherJob)
            throw new InvalidOperationException($"rendezvous: {Who} belongs to job '{jobId}' but the store at {_where} serves job '{storeJob}': " +
                "another job uses this MASTER_PORT; give each job its own port (--master-port, MASTER_PORT).");
        JobId = storeJob;
    }

    /// <summary>A key of this client's job in the store.</summary>
    string Key(string key) => JobId + "/" + key;

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> (replacing any value) and wakes its waiters.</summary>
    public void Set(string key, byte[] value) => Call(StoreOp.Set, key, () =>
    {
        _writer.Write(Key(key));
        _writer.Write(value.Length);
        _writer.Write(value);
    }, () => 0);

    /// <summary>The value of <paramref name="key"/>, waiting until some rank sets it.</summary>
    public byte[] Get(string key) => Call(StoreOp.Get, key, () =>
    {
        _writer.Write(Key(key));
        _writer.Write((long)Timeout.TotalMilliseconds);
    }, () => StoreWire.ReadExactly(_reader, _reader.ReadInt32()));

    /// <summary>Adds <paramref name="delta"/> to the 64-bit counter <paramref name="key"/> (0 when absent); returns the
    /// new value. Atomic: N ranks adding 1 see 1..N, each once.</summary>
    public long Add(string key, long delta) => Call(StoreOp.Add, key, () =>
    {
        _writer.Write(Key(key));
        _writer.Write(delta);
    }, () => _reader.ReadInt64());

    /// <summary>Waits until every one of <paramref name="keys"/> exists.</summary>
    public void Wait(params string[] keys) => Call(StoreOp.Wait, string.Join(", ", keys), () =>
    {
        _writer.Write(keys.Length);
        foreach (var k in keys) _writer.Write(Key(k));
        _writer.Write((long)Timeout.TotalMilliseconds);
    }, () => 0);

    /// <summary>Removes every key that starts with <paramref name="prefix"/>; returns how many.</summary>
    public int DeletePrefix(string prefix) => Call(StoreOp.DeletePrefix, prefix, () => _writer.Write(Key(prefix)), () => _reader.ReadInt32());

    /// <summary>Returns when all <paramref name="worldSize"/> ranks have called it (the n-th call of each rank meets the
    /// n-th of the others).</summary>
    public void Barrier(int worldSize)
    {
        long n = Interlocked.Increment(ref _barriers);
        if (Add($"barrier/{n}/count", 1) == worldSize)
        {
            Set($"barrier/{n}/go", Array.Empty<byte>());
            DeletePrefix($"barrier/{n - 1}/"); // every rank has left barrier n-1 to reach this one
        }
        Wait($"barrier/{n}/go");
    }

    T Call<T>(StoreOp op, string key, Action write, Func<T> read, Action<StoreStatus>? onStatus = null)
    {
        lock (_lock)
        {
            try
            {
                _writer.Write((byte)op);
                write();
                _writer.Flush();
                var status = (StoreStatus)_reader.ReadByte();
                onStatus?.Invoke(status);
                if (status == StoreStatus.Timeout)
                    throw new StoreTimeoutException($"rendezvous: {Who} waited {Timeout.TotalSeconds:F0} s for '{key}' in the store at {_where} " +
                        "and no rank set it: a rank has stopped or never started; check every rank's output (or raise BCBP_DIST_TIMEOUT).");
                return read();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or EndOfStreamException)
            {
                throw new IOException($"rendezvous: the store at {_where} closed the connection of {Who} during '{key}' ({e.GetType().Name}" +
                                      (e is EndOfStreamException && e.Message.StartsWith("the connection ended after") ? $": {e.Message}" : "") +
                                      "): rank 0 has exited; its output says why.", e);
            }
            catch (InvalidDataException e)
            {
                throw new IOException($"rendezvous: the reply of {_where} to {Who} during '{key}' is not the store's ({e.Message}): " +
                                      "another program listens on MASTER_PORT; pick a free port.", e);
            }
        }
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _reader.Dispose();
        _writer.Dispose();
        _client.Dispose();
    }
}

/// <summary>A rendezvous call that waited past the store's timeout; the message names the key, the rank and the store.</summary>
public sealed class StoreTimeoutException(string message) : TimeoutException(message);
