using System.Buffers.Binary;
using System.IO.Compression;

namespace Bcbp.Training.Data;

/// <summary>An IDX array (LeCun's MNIST format): unsigned bytes with their dimensions.</summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>
/// Reads IDX files of unsigned bytes (MNIST, Fashion-MNIST), raw or gzip-compressed: a big-endian header
/// 0x00 0x00 0x08 NDIM, NDIM big-endian int32 sizes, then the bytes.
/// </summary>
public static class IdxReader
{
    const byte UnsignedByte = 0x08;

    /// <summary>Reads <paramref name="path"/>, which must hold <paramref name="expectedDims"/> dimensions
    /// (3 for images, 1 for labels). Errors name the file and what is wrong with it.</summary>
    public static IdxArray Read(string path, int expectedDims)
    {
        byte[] bytes;
        try
        {
            using var file = File.OpenRead(path);
            using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
            using var mem = new MemoryStream();
            s.CopyTo(mem);
            bytes = mem.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid gzip file ({e.Message}); download it again", e);
        }
        return Parse(bytes, path, expectedDims);
    }

    /// <summary>Parses IDX bytes; <paramref name="name"/> names the source in errors.</summary>
    public static IdxArray Parse(byte[] bytes, string name, int expectedDims)
    {
        if (bytes.Length < 4)
            throw new InvalidDataException($"'{name}' is truncated: {bytes.Length} bytes, shorter than the 4-byte IDX magic number");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        uint expectedMagic = (uint)(UnsignedByte << 8 | expectedDims);
        if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != UnsignedByte || bytes[3] != expectedDims)
            throw new InvalidDataException(
                $"'{name}' is not an IDX file of {expectedDims}-dimensional unsigned bytes: magic number 0x{magic:X8}, expected 0x{expectedMagic:X8}" +
                (magic == 0x1F8B0800 || bytes[0] == 0x1F && bytes[1] == 0x8B ? " (the file is gzip-compressed but its name does not end in .gz)" : ""));
        int header = 4 + 4 * expectedDims;
        if (bytes.Length < header)
            throw new InvalidDataException($"'{name}' is truncated: {bytes.Length} bytes, shorter than its {header}-byte IDX header");
        var dims = new int[expectedDims];
        long count = 1;
        for (int i = 0; i < expectedDims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (dims[i] < 0) throw new InvalidDataException($"'{name}' has a negative size {dims[i]} in dimension {i} of its IDX header");
            // Saturates instead of wrapping: a corrupt header's product must not wrap around to the file's length.
            count = dims[i] == 0 ? 0 : count > long.MaxValue / dims[i] ? long.MaxValue : count * dims[i];
        }
        long available = bytes.Length - header;
        if (available != count)
            throw new InvalidDataException(
                $"'{name}' is {(available < count ? "truncated" : "too long")}: its header says {string.Join(" x ", dims)} = {count} bytes of data, " +
                $"the file has {available}; download it again");
        return new IdxArray(dims, bytes.AsSpan(header).ToArray());
    }
}
