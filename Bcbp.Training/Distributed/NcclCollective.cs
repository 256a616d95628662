using Bcbp.Kernels.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>
/// The collective of a CUDA job: one NCCL communicator per rank (libnccl.so.2 by P/Invoke, <see cref="Nccl"/>), whose
/// unique id rank 0 makes and hands to the others through the rendezvous store. Operations run on a non-blocking
/// stream of our own, ordered against TorchSharp's legacy default stream by events (<see cref="CudaStreams"/>): the
/// stream waits for the work queued before the call (backward), and the default stream waits for the collective
/// before anything queued after it (the optimizer step). The host never blocks, and all buckets of one call go in one
/// NCCL group. Averages use NCCL's ncclAvg. <c>NCCL_NVLS_ENABLE=0</c> is set at process start unless the user set it
/// (<see cref="Nccl.DefaultNvlsOff"/>): NVLink multicast can put the GPUs of a shared host out of service. NCCL has no timeout: a <see cref="CollectiveWatchdog"/>
/// polls an event recorded after every queued collective and NCCL's asynchronous error, and stops the process when
/// a collective stays pending past the store's timeout (<c>BCBP_DIST_TIMEOUT</c>).
/// </summary>
public sealed class NcclCollective : ICollective
{
    /// <summary>The store key of the communicator's unique id.</summary>
    public const string UniqueIdKey = "nccl/unique_id";

    readonly TcpStore _store;
    readonly CudaStreams _streams;
    readonly int _device;
    readonly CollectiveWatchdog _watchdog;
    IntPtr _comm;

    public int Rank { get; }
    public int WorldSize { get; }

    NcclCollective(TcpStore store, CudaStreams streams, IntPtr comm, int device, int rank, int worldSize)
    {
        _store = store;
        _streams = streams;
        _comm = comm;
        _device = device;
        Rank = rank;
        WorldSize = worldSize;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _watchdog = new CollectiveWatchdog(store.Timeout, () => clock.Elapsed, streams.ProgressDone,
            () => _comm == IntPtr.Zero ? null : Nccl.AsyncError(_comm), CollectiveWatchdog.ExitNow, store.Who);
        _watchdog.Start(TimeSpan.FromSeconds(1), () => CudaStreams.UseDevice(device));
    }

    /// <summary>Joins the job's communicator on CUDA device <paramref name="device"/> (blocks until every rank has).</summary>
    /// <param name="store">The job's rendezvous store (carries the unique id).</param>
    /// <param name="rank">This rank.</param>
    /// <param name="worldSize">Ranks of the job.</param>
    /// <param name="device">This rank's CUDA device ordinal.</param>
    /// <param name="libTorchDir">The libtorch in use, whose PyTorch install's NCCL is preferred.</param>
    public static NcclCollective Create(TcpStore store, int rank, int worldSize, int device, string? libTorchDir)
    {
        // Set at process start (Program.cs); a library caller that did not gets the default here, before NCCL loads.
        string? nvls = Environment.GetEnvironmentVariable(Nccl.NvlsVariable);
        if (string.IsNullOrEmpty(nvls)) Nccl.DefaultNvlsOff();
        else if (nvls != "0" && rank == 0)
            Console.Error.WriteLine($"warning: {Nccl.NvlsVariable}={nvls} from the environment is kept (bcbp's default is 0: NVLink multicast " +
                                    "can put the GPUs of a shared host out of service).");
        Nccl.SearchNear(libTorchDir);
        CudaStreams.UseDevice(device);
        Nccl.UniqueId id;
        if (rank == 0)
        {
            id = Nccl.GetUniqueId();
            store.Set(UniqueIdKey, ((ReadOnlySpan<byte>)id).ToArray());
        }
        else
        {
            var bytes = store.Get(UniqueIdKey);
            if (bytes.Length != Nccl.UniqueIdBytes)
                throw new InvalidDataException($"rendezvous: the NCCL unique id in the store has {bytes.Length} bytes, not {Nccl.UniqueIdBytes}: " +
                                               "another program uses MASTER_PORT; pick a free port.");
            id = default;
            bytes.CopyTo((Span<byte>)id);
        }
        var comm = Nccl.InitRank(worldSize, id, rank);
        return new NcclCollective(store, new CudaStreams(device), comm, device, rank, worldSize);
    }

    /// <summary>The NCCL library's version (for the run's log).</summary>
    public static string Version => Nccl.Version();

    public void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op)
        => Run(tensors, t => Nccl.AllReduce(t, op == ReduceOp.Average ? Nccl.RedOp.Avg : Nccl.RedOp.Sum, _comm, _streams.Stream));

    public void Broadcast(IReadOnlyList<Tensor> tensors, int root)
        => Run(tensors, t => Nccl.Broadcast(t, root, _comm, _streams.Stream));

    /// <summary>Queues the reduction on our stream after the default stream's work so far (the bucket's gradient
    /// copies), and does not make the default stream wait: backward goes on while NCCL reduces. Called from the autograd
    /// engine's device thread during backward (the main thread is blocked inside backward then, so the communicator is
    /// never used by two threads at once).</summary>
    public void StartAllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op)
        => Queue(tensors, t => Nccl.AllReduce(t, op == ReduceOp.Average ? Nccl.RedOp.Avg : Nccl.RedOp.Sum, _comm, _streams.Stream));

    /// <summary>The default stream waits (an event, not the host) for every reduction queued on our stream.</summary>
    public void WaitForReductions()
    {
        CudaStreams.UseDevice(_device);
        _streams.DefaultWaits();
    }

    void Run(IReadOnlyList<Tensor> tensors, Action<Tensor> queue)
    {
        if (Queue(tensors, queue)) _streams.DefaultWaits();
    }

    /// <summary>Queues <paramref name="queue"/> of every tensor, in one NCCL group, on our stream after the default
    /// stream's work so far; false when there was nothing to queue.</summary>
    bool Queue(IReadOnlyList<Tensor> tensors, Action<Tensor> queue)
    {
        if (tensors.Count == 0) return false;
        foreach (var t in tensors)
        {
            if (t.device_type != DeviceType.CUDA || t.device_index != _device)
                throw new ArgumentException($"NCCL works on this rank's GPU cuda:{_device}; got a tensor on {t.device}.");
            if (!t.is_contiguous()) throw new ArgumentException("NCCL needs contiguous tensors.");
        }
        CudaStreams.UseDevice(_device);
        _streams.WaitForDefault();
        Nccl.GroupStart();
        try { foreach (var t in tensors) queue(t); }
        finally { Nccl.GroupEnd(); }
        // The watchdog's mark: the time first, then the event (CollectiveWatchdog.Marked says why).
        _watchdog.Marked();
        _streams.MarkProgress();
        return true;
    }

    /// <summary>Through the store (the host waits; NCCL work queued before stays queued).</summary>
    public void Barrier() => _store.Barrier(WorldSize);

    /// <summary>The teardown of a job that finished on every rank (<see cref="ProcessGroup.Finish"/>): waits for our
    /// stream, then ncclCommDestroy, which is collective over the node's ranks.</summary>
    public void Dispose()
    {
        if (_comm == IntPtr.Zero) return;
        _watchdog.Dispose();
        _streams.Synchronize();
        Nccl.Destroy(_comm);
        _comm = IntPtr.Zero;
        _streams.Dispose();
    }

    /// <summary>The teardown after a failure: ncclCommAbort, without synchronizing our stream (it may hold collectives
    /// the other ranks never join) and without ncclCommDestroy (it would wait for the node's other ranks).</summary>
    public void Abort()
    {
        _watchdog.Dispose();
        var comm = Interlocked.Exchange(ref _comm, IntPtr.Zero);
        if (comm == IntPtr.Zero) return;
        CudaStreams.UseDevice(_device);
        Nccl.Abort(comm);
        _streams.Dispose();
    }
}
