using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// Writes a state dict as a <c>torch.save</c> zip (<c>archive/data.pkl</c>, <c>archive/data/N</c>,
/// <c>archive/version</c>, <c>archive/byteorder</c>) that <c>torch.load</c> — including
/// <c>weights_only=True</c> since torch 1.13 — reads back. Tensors are written contiguous, little-endian, one
/// storage each.
/// </summary>
public static class TorchCheckpointWriter
{
    private const string Archive = "archive";

    /// <summary>Writes <paramref name="stateDict"/> (any device; copied to the CPU) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, Tensor>> stateDict)
    {
        var items = stateDict.ToList();
        var entries = items.Select((kv, i) => new PickleWriter.Entry(
            kv.Key, i.ToString(System.Globalization.CultureInfo.InvariantCulture), StorageClass(kv.Key, kv.Value), kv.Value.shape)).ToList();
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        WriteEntry(zip, $"{Archive}/data.pkl", PickleWriter.StateDict(entries));
        WriteEntry(zip, $"{Archive}/byteorder", Encoding.ASCII.GetBytes("little"));
        for (int i = 0; i < items.Count; i++)
        {
            using var cpu = items[i].Value.detach().cpu().contiguous();
            WriteEntry(zip, $"{Archive}/data/{entries[i].StorageKey}", cpu.bytes);
        }
        WriteEntry(zip, $"{Archive}/version", Encoding.ASCII.GetBytes("3\n"));
    }

    private static string StorageClass(string key, Tensor t)
    {
        try
        {
            return TorchDTypes.ToStorageName(t.dtype);
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"Cannot save '{key}': {e.Message}", e);
        }
    }

    private static void WriteEntry(ZipArchive zip, string name, ReadOnlySpan<byte> content)
    {
        // Stored, not deflated: torch reads records in place, as torch.save writes them.
        var entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using var s = entry.Open();
        s.Write(content);
    }
}
