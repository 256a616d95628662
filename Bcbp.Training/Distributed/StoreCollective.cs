using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>
/// Collectives over the rendezvous store, for ranks that are processes on the CPU (no NCCL there): each rank posts its
/// tensors' bytes under a key of the call, reads every rank's, and reduces them in rank order, so all ranks hold the
/// same values. A round trip through rank 0 per call: right for the tests and small CPU jobs, not for speed (CUDA
/// jobs use <see cref="NcclCollective"/>). The last rank to finish a call deletes its keys, so the store stays small.
/// </summary>
public sealed class StoreCollective : ICollective
{
    readonly TcpStore _store;
    long _calls;

    public int Rank { get; }
    public int WorldSize { get; }

    public StoreCollective(TcpStore store, int rank, int worldSize)
    {
        _store = store;
        Rank = rank;
        WorldSize = worldSize;
    }

    public void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op)
    {
        string call = $"c/{++_calls}/";
        _store.Set(call + Rank, Pack(tensors));
        var blobs = Enumerable.Range(0, WorldSize).Select(r => _store.Get(call + r)).ToArray();
        Done(call);
        using var noGrad = no_grad();
        long offset = 0;
        foreach (var t in tensors)
        {
            long bytes = t.numel() * t.element_size();
            using var sum = Unpack(blobs[0], offset, t);
            for (int r = 1; r < WorldSize; r++)
            {
                using var next = Unpack(blobs[r], offset, t);
                sum.add_(next);
            }
            if (op == ReduceOp.Average) sum.div_(WorldSize);
            t.copy_(sum);
            offset += bytes;
        }
    }

    public void Broadcast(IReadOnlyList<Tensor> tensors, int root)
    {
        string call = $"c/{++_calls}/";
        if (Rank == root) _store.Set(call + "root", Pack(tensors));
        var blob = _store.Get(call + "root");
        Done(call);
        if (Rank == root) return;
        using var noGrad = no_grad();
        long offset = 0;
        foreach (var t in tensors)
        {
            using var value = Unpack(blob, offset, t);
            t.copy_(value);
            offset += t.numel() * t.element_size();
        }
    }

    public void Barrier() => _store.Barrier(WorldSize);

    /// <summary>Counts this rank out of the call; the last one removes the call's keys.</summary>
    void Done(string call)
    {
        if (_store.Add(call + "done", 1) == WorldSize) _store.DeletePrefix(call);
    }

    static byte[] Pack(IReadOnlyList<Tensor> tensors)
    {
        var blob = new byte[tensors.Sum(t => t.numel() * t.element_size())];
        long offset = 0;
        foreach (var t in tensors)
        {
            using var host = t.detach().cpu().contiguous();
            host.bytes.CopyTo(blob.AsSpan((int)offset));
            offset += host.numel() * host.element_size();
        }
        return blob;
    }

    /// <summary>A CPU tensor shaped like <paramref name="like"/> from <paramref name="blob"/> at <paramref name="offset"/>.</summary>
    static Tensor Unpack(byte[] blob, long offset, Tensor like)
    {
        var t = empty(like.shape, dtype: like.dtype);
        t.bytes = blob.AsSpan((int)offset, (int)(like.numel() * like.element_size()));
        return like.device_type == DeviceType.CPU ? t : t.to(like.device);
    }

    public void Dispose() { }
}
