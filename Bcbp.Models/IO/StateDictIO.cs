using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// Loads and saves model weights by file extension: <c>.pt</c>/<c>.pth</c>/<c>.bin</c> (torch.save zip state dict)
/// and <c>.safetensors</c>. Saving is atomic (temp file + rename) and includes buffers such as
/// <c>num_batches_tracked</c> and pruning masks (<c>weight_mask</c>).
/// </summary>
public static class StateDictIO
{
    private static readonly string[] TorchExtensions = { ".pt", ".pth", ".bin" };
    private const string SafeTensorsExtension = ".safetensors";

    /// <summary>Reads every tensor of a weights file onto the CPU; a floating-point tensor holding NaN or infinity is
    /// refused by name (<see cref="CheckFinite"/>).</summary>
    public static Dictionary<string, Tensor> Read(string path, WeightReadOptions? options = null)
    {
        var format = FormatOf(path);
        if (Directory.Exists(path))
            throw new FileNotFoundException($"Weights file {path} is a folder; give the .pt/.pth/.safetensors file inside it.", path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Weights file {path} not found (config key model.pretrained).", path);
        var stateDict = format == Format.SafeTensors ? SafeTensors.Read(path, options) : TorchCheckpointReader.Read(path, options);
        try { CheckFinite(stateDict, path); }
        catch
        {
            foreach (var t in stateDict.Values) t.Dispose();
            throw;
        }
        return stateDict;
    }

    /// <summary>Writes a state dict atomically, in the format of the extension.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var format = FormatOf(path);
        AtomicFile.Write(path, stream =>
        {
            if (format == Format.SafeTensors) SafeTensors.Write(stream, stateDict);
            else TorchCheckpointWriter.Write(stream, stateDict);
        });
    }

    /// <summary>Loads a weights file into <paramref name="module"/> by parameter name (see <see cref="StateDictLoader"/>).</summary>
    /// <remarks>Names and shapes are compared with the model before any storage is read (strict: a mismatch throws
    /// without reading data).</remarks>
    public static StateDictLoadResult Load(nn.Module module, string path, bool strict = true, bool loadMasks = false)
    {
        var options = new WeightReadOptions
        {
            CheckEntries = strict ? entries =>
            {
                var result = StateDictLoader.Compare(module, entries.ToDictionary(e => e.Name, e => e.Shape), loadMasks);
                if (!result.IsExact) throw new StateDictMismatchException(result, path);
            } : null,
        };
        var stateDict = Read(path, options);
        try
        {
            return StateDictLoader.Load(module, stateDict, strict, loadMasks, path);
        }
        finally
        {
            foreach (var t in stateDict.Values) t.Dispose();
        }
    }

    /// <summary>Refuses a state dict whose floating-point tensors hold NaN or infinity, naming the first such tensor.</summary>
    public static void CheckFinite(IReadOnlyDictionary<string, Tensor> stateDict, string source)
    {
        foreach (var (name, t) in stateDict)
        {
            if (!t.is_floating_point()) continue;
            using var bad = t.isfinite().logical_not_().sum();
            long count = bad.item<long>();
            if (count > 0)
                throw new InvalidDataException(
                    $"{source}: tensor '{Printable.Of(name)}' holds {count} NaN or infinite value{(count == 1 ? "" : "s")} of {t.numel()}; the weights " +
                    "come from a diverged run or a corrupt file: use an earlier checkpoint, or retrain with a lower train.lr.");
        }
    }

    /// <summary>Saves <paramref name="module"/>'s parameters and buffers (masks included) atomically.</summary>
    public static void Save(nn.Module module, string path) => Write(path, module.state_dict());

    private enum Format { Torch, SafeTensors }

    private static Format FormatOf(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == SafeTensorsExtension) return Format.SafeTensors;
        if (TorchExtensions.Contains(ext)) return Format.Torch;
        throw new ArgumentException(
            $"Unknown weights format '{ext}' of {path}: use .pt/.pth/.bin (torch.save state dict) or .safetensors.", nameof(path));
    }
}
