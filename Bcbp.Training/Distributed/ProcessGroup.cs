using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>
/// This process's membership of a data-parallel job: rank 0 serves the rendezvous store, every rank connects to it,
/// meets the others, and gets the job's collective: NCCL on a CUDA device, the store itself on the CPU.
/// <see cref="Finish"/> (after a run that succeeded) waits for every rank, so rank 0's store outlives the others' last
/// requests, and only then does <see cref="Dispose"/> synchronize and destroy the collective (ncclCommDestroy is
/// collective over the node's ranks). Without <see cref="Finish"/> (a failure) <see cref="Dispose"/> tells the others
/// through the store that this rank failed (a rank waiting in <see cref="Finish"/> then fails at once instead of after the
/// timeout), aborts the collective (ncclCommAbort) and closes without waiting for anyone.
/// Timeouts of the store: <c>BCBP_DIST_TIMEOUT</c> seconds (default 600).
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    readonly TcpStoreServer? _server;
    readonly TcpStore _store;
    bool _disposed, _finished;

    /// <summary>Store keys of <see cref="Finish"/>: the count of finished ranks, and the verdict every rank waits for
    /// (<see cref="Finished"/> when all have finished, <see cref="Failed"/> + the rank when one failed first).</summary>
    const string FinishCountKey = "finish/count", FinishKey = "finish/verdict";
    const byte Finished = 0, Failed = 1;

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
    /// <param name="env">Where this process sits in the job.</param>
    /// <param name="device">The training device: CUDA makes the collective NCCL, the CPU the store.</param>
    /// <param name="libTorchDir">The libtorch in use (NCCL is looked for next to it).</param>
    /// <param name="timeout">The store's timeout; null: <c>BCBP_DIST_TIMEOUT</c> (<see cref="Timeout"/>).</param>
    public static ProcessGroup Join(DistributedEnv env, Device device, string? libTorchDir, TimeSpan? timeout = null)
    {
        var wait = timeout ?? Timeout(Environment.GetEnvironmentVariable("BCBP_DIST_TIMEOUT"));
        // The job's id (the launcher's, torchrun's or Slurm's; else rank 0's own, learnt by the others when they
        // connect) keeps a second job on the same MASTER_PORT out of this one's store.
        string? jobId = DistributedEnv.JobId();
        var server = env.IsMain ? new TcpStoreServer(env.MasterPort, jobId) : null;
        TcpStore? store = null;
        try
        {
            store = TcpStore.Connect(env.MasterAddr, env.MasterPort, wait, $"rank {env.Rank} of {env.WorldSize}", jobId ?? server?.JobId);
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
    /// for that before it closes the store, so none loses the last reply.</summary>
    /// <exception cref="InvalidOperationException">Another rank failed (its <see cref="Dispose"/> without Finish said so).</exception>
    /// <exception cref="IOException">Rank 0's store closed: rank 0 failed.</exception>
    public void Finish()
    {
        if (_store.Add(FinishCountKey, 1) == Env.WorldSize) _store.Set(FinishKey, new[] { Finished });
        var verdict = _store.Get(FinishKey);
        if (verdict.Length == 5 && verdict[0] == Failed)
            throw new InvalidOperationException($"rank {BitConverter.ToInt32(verdict, 1)} of the job failed (its output says why); " +
                                                $"rank {Env.Rank} stops too.");
        _finished = true;
        if (_server is null) _store.Dispose();
        else _server.WaitForClients(1, TimeSpan.FromSeconds(30));
    }

    /// <summary>After <see cref="Finish"/>: the collective's clean teardown. Without it (this rank failed): tell the
    /// others, abort the collective, close; never waits for another rank, so a failing rank exits at once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_finished)
        {
            try { Collective.Dispose(); }
            finally
            {
                _store.Dispose();
                _server?.Dispose();
            }
            return;
        }
        // Failure path: every step is best effort, so the original error (not a teardown one) reaches the user.
        try { _store.Set(FinishKey, new[] { Failed }.Concat(BitConverter.GetBytes(Env.Rank)).ToArray()); }
        catch (Exception e) when (e is IOException or StoreTimeoutException) { } // the store is gone: rank 0 failed
        try { Collective.Abort(); }
        catch (Exception e) { Console.Error.WriteLine($"warning: rank {Env.Rank}: aborting the collective failed too: {e.Message}"); }
        _store.Dispose();
        _server?.Dispose();
    }
}
