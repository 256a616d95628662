using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Builds hand-made pickles and torch.save-style zips, so tests can feed the reader exactly the malformed or
/// hostile bytes they name.
/// </summary>
public sealed class CraftedPickle
{
    private readonly MemoryStream bytes = new();

    /// <summary>Starts a protocol-2 pickle.</summary>
    public static CraftedPickle Protocol2() => new CraftedPickle().Op(0x80).Op(2);

    public CraftedPickle Op(byte op) { bytes.WriteByte(op); return this; }
    public CraftedPickle Op(char op) => Op((byte)op);
    public CraftedPickle Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    public CraftedPickle Mark() => Op('(');

    public CraftedPickle Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
        return Op('X').Raw(len).Raw(b);
    }

    public CraftedPickle Int(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        return Op('J').Raw(b);
    }

    /// <summary>A 64-bit integer (LONG1 with 8 bytes), for counts past int32.</summary>
    public CraftedPickle Long(long v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        return Op(0x8a).Op(8).Raw(b);
    }

    public CraftedPickle IntTuple(params int[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Op('t');
    }

    /// <summary>An empty OrderedDict, as torch.save writes it.</summary>
    public CraftedPickle OrderedDict() => Global("collections", "OrderedDict").Op(')').Op('R');

    /// <summary>A <c>_rebuild_tensor_v2</c> call on storage <paramref name="key"/>.</summary>
    public CraftedPickle Tensor(string storageClass, string key, long numel, int offset, int[] size, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageClass).Str(key).Str("cpu").Long(numel).Op('t').Op('Q');
        Int(offset).IntTuple(size).IntTuple(stride).Op(0x89).OrderedDict();
        return Op('t').Op('R');
    }

    /// <summary>A one-entry state dict <c>{name: tensor}</c> ending with STOP.</summary>
    public static byte[] StateDict(string name, string storageClass, string key, long numel, int offset, int[] size, int[] stride)
        => Protocol2().OrderedDict().Str(name).Tensor(storageClass, key, numel, offset, size, stride).Op('s').Op('.').ToArray();

    public CraftedPickle Raw(byte[] b) { bytes.Write(b); return this; }
    public byte[] ToArray() => bytes.ToArray();
}

/// <summary>Writes a zip laid out like torch.save's: <c>archive/data.pkl</c> and <c>archive/data/KEY</c> records.</summary>
public static class CraftedZip
{
    public static void Write(string path, byte[] pickle, params (string Key, byte[] Data)[] records)
        => Write(path, CompressionLevel.NoCompression, pickle, records);

    /// <summary>As the other overload, with records compressed at <paramref name="level"/> (torch.save stores them
    /// uncompressed; a hostile file may not).</summary>
    public static void Write(string path, CompressionLevel level, byte[] pickle, params (string Key, byte[] Data)[] records)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            using var s = zip.CreateEntry(name, level).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        foreach (var (key, data) in records) Add($"archive/data/{key}", data);
        Add("archive/version", Encoding.ASCII.GetBytes("3\n"));
    }
}
