using System.Text;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// The malformed and hostile weight files of <see cref="HostileFileTests"/>, by name, so the same bytes can be fed to
/// our reader and to TorchSharp.PyBridge's (<see cref="PyBridgeInteropTests"/>). Each writer puts one file into a
/// folder and returns its path.
/// </summary>
public static class HostileFiles
{
    /// <summary>The file a crafted <c>os.system</c> call would create if anything ran it.</summary>
    public static string Marker(string dir) => Path.Combine(dir, "pwned");

    /// <summary>Every hostile file by name (the torch.save-written one is checked in, so no Python is needed).</summary>
    public static IReadOnlyDictionary<string, Func<string, string>> All { get; } = new Dictionary<string, Func<string, string>>
    {
        ["torch_save_os_system"] = _ => Path.Combine(RepoPaths.FixturesDir, "torch2.11", "torch2_hostile.pt"),
        ["crafted_os_system"] = CraftedOsSystem,
        ["opcode_NEWOBJ"] = dir => Opcode(dir, 0x81),
        ["opcode_INST"] = dir => Opcode(dir, (byte)'i'),
        ["opcode_EXT1"] = dir => Opcode(dir, 0x82),
        ["deeply_nested_persistent_id"] = DeeplyNestedPersistentId,
        ["storage_smaller_than_declared"] = StorageSmallerThanDeclared,
        ["view_past_its_storage"] = ViewPastItsStorage,
        ["missing_storage_record"] = MissingStorageRecord,
        ["unsupported_dtype"] = UnsupportedDType,
        ["wrong_magic"] = WrongMagic,
        ["legacy_non_zip"] = LegacyNonZip,
        ["truncated_zip"] = TruncatedZip,
        ["pickle_without_stop"] = PickleWithoutStop,
        ["zip_without_pickle"] = ZipWithoutPickle,
        ["safetensors_huge_header"] = SafeTensorsHugeHeader,
        ["safetensors_bad_dtype"] = dir => SafeTensors(dir, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2),
        ["safetensors_offsets_outside_data"] = dir => SafeTensors(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
        ["safetensors_bytes_short_of_shape"] = dir => SafeTensors(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8),
        ["safetensors_entry_without_offsets"] = dir => SafeTensors(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16),
        ["safetensors_header_not_json"] = dir => SafeTensors(dir, "{\"w\": [1, 2", 16),
    };

    /// <summary>The names of <see cref="All"/> (a TestCaseSource).</summary>
    public static IEnumerable<string> Names => All.Keys;

    public static string CraftedOsSystem(string dir)
    {
        var pickle = CraftedPickle.Protocol2().Global("os", "system").Str($"touch {Marker(dir)}").Op(0x85).Op('R').Op('.').ToArray();
        return Zip(dir, "evil.pt", pickle);
    }

    /// <summary>An OrderedDict followed by <paramref name="opcode"/>, an opcode no state dict uses.</summary>
    public static string Opcode(string dir, byte opcode)
        => Zip(dir, "op.pt", CraftedPickle.Protocol2().OrderedDict().Op(opcode).Op('.').ToArray());

    public static string DeeplyNestedPersistentId(string dir)
    {
        var pickle = CraftedPickle.Protocol2().Op(')');
        for (int i = 0; i < 1_000_000; i++) pickle.Op(0x85); // TUPLE1: ((((...),),),)
        return Zip(dir, "deep.pt", pickle.Op('Q').Op('.').ToArray());
    }

    /// <summary>A 100-element float tensor whose storage record holds 40 bytes.</summary>
    public static string StorageSmallerThanDeclared(string dir)
        => Zip(dir, "short.pt", CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 100, offset: 0, size: new[] { 100 }, stride: new[] { 1 }),
            ("0", new byte[40]));

    /// <summary>A 3x3 view at offset 4 of a 10-element storage (needs 13 elements).</summary>
    public static string ViewPastItsStorage(string dir)
        => Zip(dir, "oob.pt", CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 10, offset: 4, size: new[] { 3, 3 }, stride: new[] { 3, 1 }),
            ("0", new byte[40]));

    public static string MissingStorageRecord(string dir)
        => Zip(dir, "norecord.pt", CraftedPickle.StateDict("w", "FloatStorage", "7", numel: 2, offset: 0, size: new[] { 2 }, stride: new[] { 1 }));

    public static string UnsupportedDType(string dir)
        => Zip(dir, "complex.pt", CraftedPickle.StateDict("w", "ComplexFloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 }),
            ("0", new byte[8]));

    public static string WrongMagic(string dir)
        => Bytes(dir, "junk.pt", Encoding.ASCII.GetBytes("GIF89a not a checkpoint"));

    public static string LegacyNonZip(string dir)
        => Bytes(dir, "legacy.pt", new byte[] { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46 });

    public static string TruncatedZip(string dir)
    {
        var full = Zip(dir, "full.pt", CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 256, offset: 0, size: new[] { 256 }, stride: new[] { 1 }),
            ("0", new byte[1024]));
        var bytes = File.ReadAllBytes(full);
        return Bytes(dir, "cut.pt", bytes[..(bytes.Length / 2)]);
    }

    public static string PickleWithoutStop(string dir)
    {
        var full = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        return Zip(dir, "nostop.pt", full[..^5], ("0", new byte[4]));
    }

    public static string ZipWithoutPickle(string dir)
    {
        var path = Path.Combine(dir, "nopkl.pt");
        using (var zip = new System.IO.Compression.ZipArchive(File.Create(path), System.IO.Compression.ZipArchiveMode.Create))
            zip.CreateEntry("archive/version");
        return path;
    }

    /// <summary>A safetensors file whose 8-byte header length says 2^63.</summary>
    public static string SafeTensorsHugeHeader(string dir)
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), ulong.MaxValue / 2);
        return Bytes(dir, "huge.safetensors", bytes);
    }

    /// <summary>A safetensors file with JSON <paramref name="header"/> and <paramref name="dataBytes"/> zero bytes of data.</summary>
    public static string SafeTensors(string dir, string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return Bytes(dir, "bad.safetensors", bytes);
    }

    static string Zip(string dir, string name, byte[] pickle, params (string Key, byte[] Data)[] records)
    {
        var path = Path.Combine(dir, name);
        CraftedZip.Write(path, pickle, records);
        return path;
    }

    static string Bytes(string dir, string name, byte[] bytes)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
