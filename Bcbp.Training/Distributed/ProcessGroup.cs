using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>
/// This process's membership of a data-parallel job: rank 0 serves the rendezvous store, every rank connects to it,
/// meets the others, and gets the job's collective: NCCL on a CUDA device, the store itself on the CPU.
/// <see cref="Finish"/> (after a run that succeeded) waits for every rank, so rank 0's store outlives the others' last
/// requests; <see cref="Dispose"/> closes without waiting (after a failure the others may never arrive).
/// Timeouts of the store: <c>BCBP_DIST_TIMEOUT</c> seconds (default 600).
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    readonly TcpStoreServer? _server;
    readonly TcpStore _store;
    bool _disposed;

    /// <summary>The job's collective for this rank.</summary>
    public ICollective Collective { get; }

    /// <summary>Where this process sits in the job.</summary>
    public DistributedEnv Env { get; }

    /// <summary>Which collective runs: nccl (its version) or store.</summary>
    public string Backend { get; }

    ProcessGroup(DistributedEnv env, TcpStoreServer? server, TcpStore store, ICollective collective, string backend)
    {
        Env = env;
        _server = server;
        _store = store;
        Collective = collective;
        Backend = backend;
    }

    /// <summary>Joins the job <paramref name="env"/> describes, training on <paramref name="device"/>.</summary>
    public static ProcessGroup Join(DistributedEnv env, Device device, string? libTorchDir)
    {
        var timeout = Timeout(Environment.GetEnvironmentVariable("BCBP_DIST_TIMEOUT"));
        var server = env.IsMain ? new TcpStoreServer(env.MasterPort) : null;
        TcpStore? store = null;
        try
        {
            store = TcpStore.Connect(env.MasterAddr, env.MasterPort, timeout, $"rank {env.Rank} of {env.WorldSize}");
            store.Barrier(env.WorldSize);
            ICollective collective;
            string backend;
            if (device.type == DeviceType.CUDA)
            {
                collective = NcclCollective.Create(store, env.Rank, env.WorldSize, device.index < 0 ? 0 : device.index, libTorchDir);
                backend = $"nccl {NcclCollective.Version}";
            }
            else
            {
                collective = new StoreCollective(store, env.Rank, env.WorldSize);
                backend = "store (CPU)";
            }
            return new ProcessGroup(env, server, store, collective, backend);
        }
        catch
        {
            store?.Dispose();
            server?.Dispose();
            throw;
        }
    }

    /// <summary>The store's timeout from <c>BCBP_DIST_TIMEOUT</c> (seconds; null or empty: 600).</summary>
    public static TimeSpan Timeout(string? seconds)
    {
        if (string.IsNullOrWhiteSpace(seconds)) return TimeSpan.FromSeconds(600);
        if (!double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || !(s > 0))
            throw new ArgumentException($"BCBP_DIST_TIMEOUT is '{seconds}': it must be a number of seconds > 0 (default 600).");
        return TimeSpan.FromSeconds(s);
    }

    /// <summary>Waits until every rank has finished its run. The other ranks then close their connections; rank 0 waits
    /// for that before it closes the store, so none loses the barrier's last reply.</summary>
    public void Finish()
    {
        _store.Barrier(Env.WorldSize);
        if (_server is null) _store.Dispose();
        else _server.WaitForClients(1, TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { Collective.Dispose(); }
        finally
        {
            _store.Dispose();
            _server?.Dispose();
        }
    }
}
