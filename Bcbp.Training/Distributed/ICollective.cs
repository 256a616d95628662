using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>How <see cref="ICollective.AllReduce"/> combines the ranks' tensors.</summary>
public enum ReduceOp
{
    /// <summary>Element-wise sum (counts, sums of losses).</summary>
    Sum,
    /// <summary>Element-wise mean over the ranks (gradients, as DistributedDataParallel averages them).</summary>
    Average,
}

/// <summary>
/// The collective operations data-parallel training needs, over the ranks of one job: NCCL on CUDA
/// (<see cref="NcclCollective"/>), the rendezvous store on the CPU (<see cref="StoreCollective"/>, child processes),
/// threads of one process in tests (<see cref="InProcessGroup"/>). Every rank calls the same operations in the same
/// order with tensors of the same shapes and dtypes; each call returns when the rank's tensors hold the result, in
/// place, and every rank holds exactly the same values (the reduction order does not depend on the rank).
/// </summary>
public interface ICollective : IDisposable
{
    /// <summary>This process's (or thread's) rank.</summary>
    int Rank { get; }
    /// <summary>Ranks of the job.</summary>
    int WorldSize { get; }
    /// <summary>Replaces each of <paramref name="tensors"/> (contiguous, on the training device) by its reduction over
    /// the ranks, one tensor (a gradient bucket) after the other.</summary>
    void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op);
    /// <summary>Starts <see cref="AllReduce"/> of <paramref name="tensors"/> without making later work wait for it: the
    /// overlap of gradient buckets with backward (<c>Fitting/BucketReducer</c>). The tensors must not be read or
    /// written until <see cref="WaitForReductions"/>. May be called from the autograd engine's thread. The CPU
    /// collectives reduce synchronously here (the default); NCCL queues the reduction on its own stream.</summary>
    void StartAllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op) => AllReduce(tensors, op);
    /// <summary>Work queued after this call (the optimizer step) runs after every reduction started so far.</summary>
    void WaitForReductions() { }
    /// <summary>Copies rank <paramref name="root"/>'s <paramref name="tensors"/> into every rank's.</summary>
    void Broadcast(IReadOnlyList<Tensor> tensors, int root);
    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();
    /// <summary>Releases the collective after a failure, without waiting for the other ranks (they may never join the
    /// work still queued): NCCL aborts its communicator instead of synchronizing and destroying it. <see cref="IDisposable.Dispose"/>
    /// is the teardown of a job that finished on every rank.</summary>
    void Abort() => Dispose();
}
