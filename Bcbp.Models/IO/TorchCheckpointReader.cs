using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// Reads the state dict of a <c>torch.save</c> zip checkpoint (<c>ARCHIVE/data.pkl</c> + <c>ARCHIVE/data/KEY</c>
/// storage records) through <see cref="RestrictedUnpickler"/>, so loading never runs code. Accepts a plain state
/// dict or the common wrappers <c>{"state_dict": ...}</c>, <c>{"model_state_dict": ...}</c>, <c>{"model": ...}</c>,
/// and drops a <c>module.</c> prefix that <c>DataParallel</c> puts on every key.
/// </summary>
public static class TorchCheckpointReader
{
    /// <summary>Keys under which training scripts commonly nest the state dict, in the order they are tried.</summary>
    public static readonly string[] WrapperKeys = { "state_dict", "model_state_dict", "model", "net", "module" };

    private const long MaxPickleBytes = 256L << 20;

    /// <summary>Reads every tensor of the checkpoint at <paramref name="path"/> onto the CPU.</summary>
    /// <exception cref="InvalidDataException">Not a torch zip, corrupt, truncated, hostile or unsupported content.</exception>
    public static Dictionary<string, Tensor> Read(string path, WeightReadOptions? options = null)
    {
        using var file = File.OpenRead(path);
        return Read(file, path, options);
    }

    /// <summary>Reads a checkpoint from a seekable stream; <paramref name="source"/> names it in errors.</summary>
    public static Dictionary<string, Tensor> Read(Stream stream, string source, WeightReadOptions? options = null)
    {
        CheckMagic(stream, source);
        var budget = options?.Budget ?? ReadBudget.ForFile(stream.Length);
        ZipArchive zip;
        List<ZipArchiveEntry> entries;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            entries = zip.Entries.ToList(); // the central directory is read here, lazily
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            throw new InvalidDataException($"{source}: not a readable zip ({e.Message}); the file is truncated or corrupt.", e);
        }
        using (zip)
        {
            if (entries.GroupBy(e => e.FullName).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new InvalidDataException($"{source}: the zip holds '{Printable.Of(twice.Key)}' twice; the file is corrupt or was tampered with.");
            var pickle = entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                .OrderBy(e => e.FullName.Length).FirstOrDefault()
                ?? throw new InvalidDataException($"{source}: zip without data.pkl, so not a torch.save checkpoint.");
            var prefix = pickle.FullName[..^"data.pkl".Length];
            if (pickle.Length > MaxPickleBytes)
                throw new InvalidDataException($"{source}: data.pkl is {pickle.Length} bytes, too large for a state dict.");
            budget.Charge(pickle.Length, source, pickle.FullName);
            var root = RestrictedUnpickler.Load(ReadEntry(pickle, source, checked((int)pickle.Length)), $"{source} ({Printable.Of(pickle.FullName)})");
            var references = Unwrap(root, source);
            var entriesOut = new List<TensorEntry>(references.Count);
            foreach (var (key, reference) in references)
            {
                reference.Validate(key, source);
                entriesOut.Add(new TensorEntry(key, reference.Storage.DType, reference.Size));
            }
            options?.CheckEntries?.Invoke(entriesOut);
            return Materialize(zip, prefix, references, source, budget);
        }
    }

    private static void CheckMagic(Stream stream, string source)
    {
        Span<byte> magic = stackalloc byte[4];
        int n = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        stream.Seek(0, SeekOrigin.Begin);
        if (n == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) return;
        if (n > 0 && magic[0] == PickleOpcode.Proto)
            throw new InvalidDataException(
                $"{source}: legacy (pre-1.6, non-zip) torch.save format, which Bcbp does not read; re-save it with " +
                "torch >= 1.6 (torch.save(model.state_dict(), path)) or as .safetensors.");
        throw new InvalidDataException(
            $"{source}: not a PyTorch checkpoint (starts with {Convert.ToHexString(magic[..n])}, expected a zip 'PK\\x03\\x04'); " +
            "pass a torch.save state dict (.pt/.pth) or a .safetensors file.");
    }

    /// <summary>Finds the state dict inside the unpickled object (plain or wrapped) and strips <c>module.</c>.</summary>
    private static List<KeyValuePair<string, TensorReference>> Unwrap(object? root, string source)
    {
        if (root is not OrderedDictionary<object, object?> dict)
            throw new InvalidDataException($"{source}: holds a {root?.GetType().Name ?? "None"}, not a state dict (a dict of tensors).");
        if (AsTensorDict(dict) is not { } tensors)
        {
            var nested = WrapperKeys.Select(k => dict.TryGetValue(k, out var v) ? v as OrderedDictionary<object, object?> : null)
                .Select(d => d is null ? null : AsTensorDict(d)).FirstOrDefault(d => d is not null);
            tensors = nested ?? throw new InvalidDataException(
                $"{source}: no state dict found: the top-level dict has keys [{string.Join(", ", dict.Keys.Take(20).Select(k => Printable.Of(k.ToString() ?? "", 40)))}] and none of " +
                $"[{string.Join(", ", WrapperKeys)}] holds a dict of tensors.");
        }
        if (tensors.Count > 0 && tensors.All(kv => kv.Key.StartsWith("module.", StringComparison.Ordinal)))
            tensors = tensors.Select(kv => KeyValuePair.Create(kv.Key["module.".Length..], kv.Value)).ToList();
        return tensors;
    }

    private static List<KeyValuePair<string, TensorReference>>? AsTensorDict(OrderedDictionary<object, object?> dict)
    {
        var result = new List<KeyValuePair<string, TensorReference>>(dict.Count);
        foreach (var (key, value) in dict)
        {
            if (key is not string name || value is not TensorReference t) return null;
            result.Add(KeyValuePair.Create(name, t));
        }
        return result;
    }

    private static Dictionary<string, Tensor> Materialize(
        ZipArchive zip, string prefix, List<KeyValuePair<string, TensorReference>> references, string source, ReadBudget budget)
    {
        var storages = new Dictionary<StorageReference, Tensor>(ReferenceEqualityComparer.Instance);
        var result = new Dictionary<string, Tensor>(references.Count);
        try
        {
            foreach (var (key, reference) in references)
            {
                long numel = reference.Validate(key, source);
                if (!storages.TryGetValue(reference.Storage, out var storage))
                    storages[reference.Storage] = storage = ReadStorage(zip, prefix, reference.Storage, source, budget);
                result[key] = View(storage, reference, numel, key, source, budget);
            }
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        finally
        {
            // Releases only these handles: a tensor that views a whole storage keeps the native memory alive itself.
            foreach (var s in storages.Values) s.Dispose();
        }
    }

    private static Tensor View(Tensor storage, TensorReference r, long numel, string key, string source, ReadBudget budget)
    {
        bool wholeStorage = r.Offset == 0 && numel == r.Storage.Numel && IsContiguous(r.Size, r.Stride);
        if (wholeStorage) return storage.reshape(r.Size);
        // A strided view is copied: charged, since many views of one storage could otherwise multiply it.
        int size = TorchDTypes.ElementSize(r.Storage.DType);
        budget.Charge(numel > long.MaxValue / size ? long.MaxValue : numel * size, source, $"tensor '{Printable.Of(key)}' (a strided copy)");
        using var view = storage.as_strided(r.Size, r.Stride, r.Offset);
        return view.clone();
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    private static Tensor ReadStorage(ZipArchive zip, string prefix, StorageReference storage, string source, ReadBudget budget)
    {
        var name = Printable.Of($"{prefix}data/{storage.Key}");
        var entry = zip.GetEntry(name)
            ?? throw new InvalidDataException($"{source}: storage record {name} is missing; the checkpoint is truncated or corrupt.");
        long bytes = storage.Bytes(source);
        if (entry.Length < bytes)
            throw new InvalidDataException(
                $"{source}: storage {name} holds {entry.Length} bytes but the pickle declares {storage.Numel} elements of " +
                $"{storage.DType} ({bytes} bytes); the checkpoint is corrupt or was tampered with.");
        if (bytes > Array.MaxLength)
            throw new InvalidDataException($"{source}: storage {name} is {bytes} bytes, larger than one .NET array; split the tensor.");
        budget.Charge(bytes, source, $"storage {name}");
        var buffer = ReadEntry(entry, source, (int)bytes);
        var tensor = torch.empty(storage.Numel, storage.DType);
        if (buffer.Length > 0) tensor.bytes = buffer;
        return tensor;
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, string source, int count)
    {
        var buffer = new byte[count];
        try
        {
            using var s = entry.Open();
            s.ReadExactly(buffer);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new InvalidDataException($"{source}: cannot read {Printable.Of(entry.FullName)} ({e.Message}); the file is truncated or corrupt.", e);
        }
        return buffer;
    }
}
