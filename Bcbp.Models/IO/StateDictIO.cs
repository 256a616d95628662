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

    /// <summary>Reads every tensor of a weights file onto the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        var format = FormatOf(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Weights file {path} not found (config key model.pretrained).", path);
        return format == Format.SafeTensors ? SafeTensors.Read(path) : TorchCheckpointReader.Read(path);
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
    public static StateDictLoadResult Load(nn.Module module, string path, bool strict = true, bool loadMasks = false)
    {
        var stateDict = Read(path);
        try
        {
            return StateDictLoader.Load(module, stateDict, strict, loadMasks, path);
        }
        finally
        {
            foreach (var t in stateDict.Values) t.Dispose();
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
