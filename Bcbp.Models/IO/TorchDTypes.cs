using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// The tensor dtypes Bcbp reads and writes, with their names in PyTorch pickles (<c>torch.FloatStorage</c>) and in
/// safetensors headers (<c>F32</c>). Anything else (complex, quantized, fp8) is refused with the supported list.
/// </summary>
public static class TorchDTypes
{
    private static readonly (ScalarType Type, string Storage, string SafeTensors, int Size)[] Table =
    {
        (ScalarType.Float32, "FloatStorage", "F32", 4),
        (ScalarType.Float64, "DoubleStorage", "F64", 8),
        (ScalarType.Float16, "HalfStorage", "F16", 2),
        (ScalarType.BFloat16, "BFloat16Storage", "BF16", 2),
        (ScalarType.Int64, "LongStorage", "I64", 8),
        (ScalarType.Int32, "IntStorage", "I32", 4),
        (ScalarType.Int16, "ShortStorage", "I16", 2),
        (ScalarType.Int8, "CharStorage", "I8", 1),
        (ScalarType.Byte, "ByteStorage", "U8", 1),
        (ScalarType.Bool, "BoolStorage", "BOOL", 1),
    };

    /// <summary>The supported dtypes, for error messages.</summary>
    public static string Supported => string.Join(", ", Table.Select(t => $"{t.Type} ({t.SafeTensors})"));

    /// <summary>Bytes per element of a supported dtype.</summary>
    public static int ElementSize(ScalarType type) => Find(t => t.Type == type, $"dtype {type}").Size;

    /// <summary>The dtype of a <c>torch.*Storage</c> class name, or null when unsupported.</summary>
    public static ScalarType? FromStorageName(string storageClass)
        => Table.Where(t => t.Storage == storageClass).Select(t => (ScalarType?)t.Type).FirstOrDefault();

    /// <summary>The <c>torch.*Storage</c> class name that torch.save writes for a dtype.</summary>
    public static string ToStorageName(ScalarType type) => Find(t => t.Type == type, $"dtype {type}").Storage;

    /// <summary>The dtype of a safetensors dtype code, or null when unsupported.</summary>
    public static ScalarType? FromSafeTensors(string code)
        => Table.Where(t => t.SafeTensors == code).Select(t => (ScalarType?)t.Type).FirstOrDefault();

    /// <summary>The safetensors dtype code of a dtype.</summary>
    public static string ToSafeTensors(ScalarType type) => Find(t => t.Type == type, $"dtype {type}").SafeTensors;

    private static (ScalarType Type, string Storage, string SafeTensors, int Size) Find(
        Func<(ScalarType Type, string Storage, string SafeTensors, int Size), bool> match, string what)
    {
        foreach (var t in Table)
            if (match(t)) return t;
        throw new NotSupportedException($"Unsupported {what}; supported: {Supported}.");
    }
}
