using System.Runtime.InteropServices;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// Where decoded batches wait for the device: <see cref="Depth"/> reusable slots, each holding up to
/// <see cref="Capacity"/> images in <see cref="BatchLayout"/>'s host layout and their labels. Reused across passes, so a
/// pass allocates nothing per batch. On CUDA the slots are page-locked and copied asynchronously on a stream of their
/// own (<see cref="PinnedUploadRing"/>); on the CPU they are plain managed arrays (pinned so Skia can draw into them)
/// that the batch tensors read in place.
/// <para>Per batch: producers <see cref="WaitUntilFree"/>, write pixels at <see cref="Pixels"/> and labels with
/// <see cref="SetLabels"/>, then <see cref="Send"/>; the consumer <see cref="Receive"/>s device tensors valid until it
/// calls <see cref="Consumed"/>, after queuing the last work that reads them.</para>
/// </summary>
internal abstract class BatchStaging : IDisposable
{
    protected BatchStaging(int depth, int capacity, int size)
    {
        Depth = depth;
        Capacity = capacity;
        Size = size;
        ImageBytes = BatchLayout.ImageBytes(size);
        // Labels after the pixels, 256-byte aligned.
        LabelOffset = (capacity * ImageBytes + 255) / 256 * 256;
        SlotBytes = LabelOffset + 8L * capacity;
    }

    /// <summary>A staging area for <paramref name="device"/>: pinned and asynchronous on CUDA, managed on the CPU.</summary>
    public static BatchStaging Create(Device device, int depth, int capacity, int size) =>
        device.type == DeviceType.CUDA ? new Pinned(device, depth, capacity, size) : new Managed(depth, capacity, size);

    public int Depth { get; }
    public int Capacity { get; }
    public int Size { get; }
    public long ImageBytes { get; }
    protected long LabelOffset { get; }
    protected long SlotBytes { get; }

    /// <summary>Host address of image 0 of slot <paramref name="slot"/>.</summary>
    public abstract IntPtr Pixels(int slot);
    /// <summary>Writes the labels of slot <paramref name="slot"/>'s batch.</summary>
    public abstract void SetLabels(int slot, ReadOnlySpan<long> labels);
    /// <summary>Blocks until nothing reads slot <paramref name="slot"/>'s host memory.</summary>
    public abstract void WaitUntilFree(int slot);
    /// <summary>The first <paramref name="count"/> images and labels of the slot are written: start their way to the device.</summary>
    public abstract void Send(int slot, int count);
    /// <summary>uint8 <c>[count, H, W, 4]</c> and int64 <c>[count]</c> on the device, readable by work queued from now on.</summary>
    public abstract (Tensor Pixels, Tensor Labels) Receive(int slot, int count);
    /// <summary>The work that reads the received tensors is queued; the slot's device memory may be reused after it.</summary>
    public abstract void Consumed(int slot);
    public abstract void Dispose();

    /// <summary>CPU: the batch tensors are views of the managed slots (libtorch's CPU ops finish before they return,
    /// so a slot is free again as soon as the consumer has normalized it).</summary>
    sealed class Managed : BatchStaging
    {
        readonly byte[][] _pixels;
        readonly long[][] _labels;

        public Managed(int depth, int capacity, int size) : base(depth, capacity, size)
        {
            _pixels = Enumerable.Range(0, depth).Select(_ => GC.AllocateUninitializedArray<byte>(checked((int)(capacity * ImageBytes)), pinned: true)).ToArray();
            _labels = Enumerable.Range(0, depth).Select(_ => new long[capacity]).ToArray();
        }

        public override IntPtr Pixels(int slot) => Marshal.UnsafeAddrOfPinnedArrayElement(_pixels[slot], 0);
        public override void SetLabels(int slot, ReadOnlySpan<long> labels) => labels.CopyTo(_labels[slot]);
        public override void WaitUntilFree(int slot) { }
        public override void Send(int slot, int count) { }

        public override (Tensor Pixels, Tensor Labels) Receive(int slot, int count)
        {
            var pixels = torch.frombuffer(_pixels[slot], ScalarType.Byte, count * ImageBytes).view(count, Size, Size, BatchLayout.BytesPerPixel);
            return (pixels, tensor(_labels[slot].AsSpan(0, count).ToArray()));
        }

        public override void Consumed(int slot) { }
        public override void Dispose() { }
    }

    /// <summary>CUDA: page-locked host slots, one device buffer per slot, copies on a stream of their own.</summary>
    sealed class Pinned : BatchStaging
    {
        readonly PinnedUploadRing _ring;
        readonly Tensor[] _devicePixels, _deviceLabels;

        public Pinned(Device device, int depth, int capacity, int size) : base(depth, capacity, size)
        {
            _ring = new PinnedUploadRing(device, depth, SlotBytes);
            using var scope = NewDisposeScope(); // the buffers live as long as the staging, not as a caller's scope
            _devicePixels = Enumerable.Range(0, depth).Select(_ => empty(capacity * ImageBytes, ScalarType.Byte, device)).ToArray();
            _deviceLabels = Enumerable.Range(0, depth).Select(_ => empty(capacity, ScalarType.Int64, device)).ToArray();
            scope.Detach(_devicePixels.Concat(_deviceLabels).ToArray());
            // The allocator may hand out blocks that kernels still queued on the legacy stream use: the first copy into
            // each slot waits for them, as every later one waits for the slot's consumer.
            for (int i = 0; i < depth; i++) _ring.MarkConsumed(i);
        }

        public override IntPtr Pixels(int slot) => _ring.Host(slot);

        public override unsafe void SetLabels(int slot, ReadOnlySpan<long> labels) =>
            labels.CopyTo(new Span<long>((void*)(_ring.Host(slot) + (nint)LabelOffset), Capacity));

        public override void WaitUntilFree(int slot) => _ring.WaitUntilHostFree(slot);

        public override void Send(int slot, int count)
        {
            _ring.Upload(slot, 0, count * ImageBytes, _devicePixels[slot]);
            _ring.Upload(slot, LabelOffset, 8L * count, _deviceLabels[slot]);
        }

        public override (Tensor Pixels, Tensor Labels) Receive(int slot, int count)
        {
            _ring.WaitForCopy(slot);
            var pixels = _devicePixels[slot].narrow(0, 0, count * ImageBytes).view(count, Size, Size, BatchLayout.BytesPerPixel);
            return (pixels, _deviceLabels[slot].narrow(0, 0, count));
        }

        public override void Consumed(int slot) => _ring.MarkConsumed(slot);

        public override void Dispose()
        {
            _ring.Dispose(); // waits for the copies in flight before the device buffers go
            foreach (var t in _devicePixels.Concat(_deviceLabels)) t.Dispose();
        }
    }
}
