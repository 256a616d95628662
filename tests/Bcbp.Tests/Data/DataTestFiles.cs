using System.Buffers.Binary;
using System.IO.Compression;

namespace Bcbp.Tests.Data;

/// <summary>Writes small dataset files in the real formats, for the reader tests.</summary>
static class DataTestFiles
{
    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "bcbp-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    public static byte[] Idx(int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static void Write(string path, byte[] bytes, bool gzip)
    {
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var f = File.Create(path + ".gz");
        using var z = new GZipStream(f, CompressionLevel.Fastest);
        z.Write(bytes);
    }

    /// <summary>An MNIST-like split: image i has every pixel equal to (i * 7 + 3) % 256 except pixel (0, 1) = 255,
    /// label i % 10.</summary>
    public static void WriteMnistSplit(string root, string prefix, int n, bool gzip, int size = 28)
    {
        var pixels = new byte[n * size * size];
        for (int i = 0; i < n; i++)
        {
            Array.Fill(pixels, (byte)((i * 7 + 3) % 256), i * size * size, size * size);
            pixels[i * size * size + 1] = 255;
        }
        Write(Path.Combine(root, $"{prefix}-images-idx3-ubyte"), Idx(new[] { n, size, size }, pixels), gzip);
        Write(Path.Combine(root, $"{prefix}-labels-idx1-ubyte"), Idx(new[] { n }, Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray()), gzip);
    }

    /// <summary>A CIFAR binary file: record i has label (first + i) % classes, channel c filled with (first + i + 40 c) % 256.</summary>
    public static void WriteCifar(string path, int first, int n, bool cifar100)
    {
        int labelBytes = cifar100 ? 2 : 1, record = labelBytes + 3072;
        var bytes = new byte[n * record];
        for (int i = 0; i < n; i++)
        {
            int k = first + i;
            if (cifar100) { bytes[i * record] = (byte)(k % 20); bytes[i * record + 1] = (byte)(k % 100); }
            else bytes[i * record] = (byte)(k % 10);
            for (int c = 0; c < 3; c++)
                Array.Fill(bytes, (byte)((k + 40 * c) % 256), i * record + labelBytes + c * 1024, 1024);
        }
        File.WriteAllBytes(path, bytes);
    }
}
