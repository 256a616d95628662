using Bcbp.Models;
using Bcbp.Models.IO;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Json;

namespace Bcbp.Training.Pruning.Surgery;

/// <summary>
/// What it takes to rebuild a shrunk model (<c>model_shrunk.json</c>, beside its weights): the architecture as
/// <see cref="ModelFactory"/> names it, and the output channels of every removable producer
/// (<see cref="FilterSurgery.Widths"/>). <see cref="Load"/> creates the model, resizes it and loads the weights.
/// </summary>
public sealed record ShrinkManifest
{
    public const string FileName = "model_shrunk.json";
    public const string WeightsFile = "model_shrunk.safetensors";
    public const string TorchWeightsFile = "model_shrunk.pt";

    public required string Arch { get; init; }
    public required int NumClasses { get; init; }
    public required int InChannels { get; init; }
    /// <summary>Producer name -> output channels after shrinking (removable producers only; every other layer keeps the architecture's width).</summary>
    public required IReadOnlyDictionary<string, long> Widths { get; init; }
    /// <summary>The weights file, relative to the manifest's folder.</summary>
    public string Weights { get; init; } = WeightsFile;

    /// <summary>A fresh model of <see cref="Arch"/> with the shrunk widths (weights not loaded).</summary>
    public nn.Module<Tensor, Tensor> CreateModel()
    {
        var model = ModelFactory.Create(Arch, NumClasses, InChannels);
        FilterSurgery.ResizeTo(model, Widths);
        return model;
    }

    /// <summary>Reads the manifest at <paramref name="path"/>, builds the shrunk model and loads its weights (with masks) strictly.</summary>
    public static nn.Module<Tensor, Tensor> Load(string path)
    {
        var manifest = Read(path);
        var model = manifest.CreateModel();
        StateDictIO.Load(model, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, manifest.Weights), strict: true, loadMasks: true);
        return model;
    }

    public static ShrinkManifest Read(string path) => OutputJson.Read<ShrinkManifest>(path);

    /// <summary>Writes the manifest atomically.</summary>
    public void Write(string path) => OutputJson.Write(path, this);
}
