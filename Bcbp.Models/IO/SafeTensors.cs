using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON header
/// <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>, then the
/// raw little-endian tensor bytes. Reading validates every offset against the file before touching data.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100L << 20;
    private const string MetadataKey = "__metadata__";

    /// <summary>Reads every tensor of the file at <paramref name="path"/> onto the CPU.</summary>
    /// <exception cref="InvalidDataException">Truncated, malformed, or an unsupported dtype, named in the message.</exception>
    public static Dictionary<string, Tensor> Read(string path, WeightReadOptions? options = null)
    {
        using var file = File.OpenRead(path);
        long length = file.Length;
        var budget = options?.Budget ?? ReadBudget.ForFile(length);
        Span<byte> prefix = stackalloc byte[8];
        if (file.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new InvalidDataException($"{path}: {length} bytes, too short for a safetensors file (8-byte header length first).");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)MaxHeaderBytes || headerLength > (ulong)(length - 8))
            throw new InvalidDataException(
                $"{path}: declares a {headerLength}-byte header but the file has {length} bytes; not a safetensors file, or truncated.");
        budget.Charge((long)headerLength, path, "the safetensors header");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;

        var specs = ParseHeader(header, path, dataLength);
        options?.CheckEntries?.Invoke(specs.Select(s => new TensorEntry(s.Name, s.DType, s.Shape)).ToList());
        var result = new Dictionary<string, Tensor>(specs.Count);
        try
        {
            foreach (var (name, dtype, shape, begin, end) in specs)
            {
                budget.Charge(end - begin, path, $"tensor '{Printable.Of(name)}'");
                var bytes = new byte[end - begin];
                file.Seek(dataStart + begin, SeekOrigin.Begin);
                file.ReadExactly(bytes);
                var t = torch.empty(shape, dtype);
                if (bytes.Length > 0) t.bytes = bytes;
                result[name] = t;
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    private static List<(string Name, ScalarType DType, long[] Shape, long Begin, long End)> ParseHeader(byte[] header, string path, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the safetensors header is not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: the safetensors header is not a JSON object.");
            var specs = new List<(string Name, ScalarType DType, long[] Shape, long Begin, long End)>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                string name;
                try { name = p.Name; }
                catch (InvalidOperationException e) // invalid UTF-8 in a name: JsonDocument decodes names lazily
                {
                    throw new InvalidDataException($"{path}: a tensor name in the safetensors header is not valid UTF-8 ({e.Message}); the file is corrupt.", e);
                }
                if (!names.Add(name))
                    throw new InvalidDataException($"{path}: tensor '{Printable.Of(name)}' appears twice in the safetensors header; the file is corrupt or was tampered with.");
                if (name == MetadataKey) continue;
                specs.Add(ParseEntry(name, p.Value, path, dataLength));
            }
            // Overlapping ranges would let a small file stand for many copies of the same bytes.
            var sorted = specs.Where(s => s.End > s.Begin).OrderBy(s => s.Begin).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Begin < sorted[i - 1].End)
                    throw new InvalidDataException(
                        $"{path}: tensors '{Printable.Of(sorted[i - 1].Name)}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}) and '{Printable.Of(sorted[i].Name)}' " +
                        $"[{sorted[i].Begin}, {sorted[i].End}) overlap in the data section; the file is corrupt or was tampered with.");
            return specs;
        }
    }

    private static (string, ScalarType, long[], long, long) ParseEntry(string name, JsonElement value, string path, long dataLength)
    {
        string where = $"{path}: tensor '{Printable.Of(name)}'";
        try
        {
            var code = value.GetProperty("dtype").GetString() ?? "";
            var dtype = TorchDTypes.FromSafeTensors(code)
                ?? throw new InvalidDataException($"{where} has unsupported dtype {code}; supported: {TorchDTypes.Supported}.");
            var shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw new InvalidDataException(
                    $"{where} has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes; the file is truncated or corrupt.");
            if (shape.Any(d => d < 0)) throw new InvalidDataException($"{where} has a negative dimension.");
            if (offsets[1] - offsets[0] > Array.MaxLength)
                throw new InvalidDataException($"{where} is {offsets[1] - offsets[0]} bytes, larger than one .NET array; split the tensor.");
            long expected = checked(shape.Aggregate(1L, (a, b) => a * b) * TorchDTypes.ElementSize(dtype));
            if (offsets[1] - offsets[0] != expected)
                throw new InvalidDataException(
                    $"{where} of shape [{string.Join(", ", shape)}] {code} needs {expected} bytes but its data_offsets span {offsets[1] - offsets[0]}.");
            return (name, dtype, shape, offsets[0], offsets[1]);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"{where}: malformed header entry ({e.Message}); expected dtype, shape, data_offsets.", e);
        }
    }

    /// <summary>Writes <paramref name="stateDict"/> (any device; copied to the CPU) as safetensors.</summary>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, Tensor>> stateDict, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = stateDict.ToList();
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in items)
            {
                long bytes = t.numel() * TorchDTypes.ElementSize(t.dtype);
                w.WriteStartObject(name);
                w.WriteString("dtype", TorchDTypes.ToSafeTensors(t.dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // The format pads the header with spaces to a multiple of 8 so the data starts aligned.
        int padding = (int)((8 - json.Length % 8) % 8);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)(json.Length + padding));
        stream.Write(prefix);
        json.Position = 0;
        json.CopyTo(stream);
        stream.Write(Encoding.ASCII.GetBytes(new string(' ', padding)));
        foreach (var (_, t) in items)
        {
            using var cpu = t.detach().cpu().contiguous();
            stream.Write(cpu.bytes);
        }
    }
}
