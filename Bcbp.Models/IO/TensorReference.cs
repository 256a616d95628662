using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// A storage record of a torch.save zip (<c>data/KEY</c>), as the pickle's persistent id declares it:
/// <c>('storage', torch.FloatStorage, 'KEY', 'cpu', numel)</c>. Tensors sharing a storage share one instance.
/// </summary>
public sealed record StorageReference(string Key, ScalarType DType, long Numel)
{
    /// <summary>The storage's size in bytes, overflow-checked (a hostile pickle may declare any element count).</summary>
    public long Bytes(string source)
    {
        int size = TorchDTypes.ElementSize(DType);
        if (Numel > long.MaxValue / size)
            throw new InvalidDataException($"{source}: storage data/{Printable.Of(Key)} declares {Numel} elements of {DType}, more bytes than a file can hold; the checkpoint is corrupt or hostile.");
        return Numel * size;
    }
}

/// <summary>
/// A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a strided view (offset, size, stride, in
/// elements) of a storage. Nothing is read until the checkpoint reader materialises it.
/// </summary>
public sealed record TensorReference(StorageReference Storage, long Offset, long[] Size, long[] Stride)
{
    /// <summary>
    /// Checks that the view stays inside its storage (a hostile or corrupt file must not read out of bounds) and
    /// returns the element count.
    /// </summary>
    public long Validate(string key, string source)
    {
        if (Size.Length != Stride.Length)
            throw new InvalidDataException($"{source}: tensor '{Printable.Of(key)}': size has {Size.Length} dims but stride has {Stride.Length}.");
        if (Offset < 0 || Size.Any(s => s < 0) || Stride.Any(s => s < 0))
            throw new InvalidDataException($"{source}: tensor '{Printable.Of(key)}': negative offset, size or stride (offset {Offset}, size [{string.Join(", ", Size)}], stride [{string.Join(", ", Stride)}]).");
        long numel = 1, last = Offset;
        try
        {
            checked
            {
                for (int d = 0; d < Size.Length; d++)
                {
                    numel *= Size[d];
                    if (Size[d] > 0) last += (Size[d] - 1) * Stride[d];
                }
            }
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{source}: tensor '{Printable.Of(key)}': size [{string.Join(", ", Size)}] overflows.");
        }
        if (numel > 0 && last >= Storage.Numel)
            throw new InvalidDataException(
                $"{source}: tensor '{Printable.Of(key)}' of size [{string.Join(", ", Size)}] (offset {Offset}, stride [{string.Join(", ", Stride)}]) needs " +
                $"{last + 1} elements but its storage data/{Printable.Of(Storage.Key)} holds {Storage.Numel}: the checkpoint is corrupt or was tampered with.");
        return numel;
    }
}
