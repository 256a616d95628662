namespace Bcbp.Models.IO;

/// <summary>
/// A numpy array as a data pickle holds it (<c>numpy.core.multiarray._reconstruct</c> then BUILD with
/// <c>(version, shape, dtype, is_fortran, raw bytes)</c>), read by <see cref="RestrictedUnpickler.LoadData"/>
/// without numpy: the dtype's name (<c>u1</c>, <c>&lt;f4</c>, ...), the shape and the raw bytes.
/// </summary>
public sealed class NumpyArray
{
    /// <summary>numpy's dtype string, e.g. <c>u1</c> for uint8; empty until the pickle's BUILD sets it.</summary>
    public string DType { get; private set; } = "";
    /// <summary>The array's shape.</summary>
    public long[] Shape { get; private set; } = Array.Empty<long>();
    /// <summary>True for column-major data.</summary>
    public bool FortranOrder { get; private set; }
    /// <summary>The elements' bytes in storage order.</summary>
    public byte[] Data { get; private set; } = Array.Empty<byte>();

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    internal void SetState(long[] shape, string dtype, bool fortran, byte[] data)
        => (Shape, DType, FortranOrder, Data) = (shape, dtype, fortran, data);
}

/// <summary>A <c>numpy.dtype(name, align, copy)</c> a pickle builds; only its name is kept.</summary>
public sealed record NumpyDType(string Name);
