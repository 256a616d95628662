using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// A saved pruned model as the masked dense model the pruning pipeline trained: the architecture from
/// <see cref="ModelFactory"/>, the state dict's parameters and <see cref="WeightMask"/> buffers (loaded strictly), each
/// masked weight multiplied by its mask, in eval mode. This is the reference a sparse conversion, a shrunk model and a
/// cost count start from. A dense state dict loads as the dense model (no masks); callers that need a pruned one check
/// <see cref="IsPruned"/>.
/// </summary>
public static class MaskedModel
{
    /// <summary>Builds <paramref name="arch"/> and loads <paramref name="weights"/> (.pt or .safetensors).</summary>
    public static nn.Module<Tensor, Tensor> Load(string arch, int numClasses, int inChannels, string weights)
    {
        var state = StateDictIO.Read(weights);
        try { return Load(arch, numClasses, inChannels, state, weights); }
        finally { foreach (var t in state.Values) t.Dispose(); }
    }

    /// <summary>Builds <paramref name="arch"/> and loads <paramref name="state"/> (named <paramref name="source"/> in errors).</summary>
    public static nn.Module<Tensor, Tensor> Load(string arch, int numClasses, int inChannels,
                                                 IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var model = ModelFactory.Create(arch, numClasses, inChannels);
        try
        {
            StateDictLoader.Load(model, state, strict: true, loadMasks: true, sourceName: source);
            // The pruning hook keeps pruned weights at zero already; multiplying makes any weights file exact.
            WeightMask.ApplyAll(model);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>True when some module of <paramref name="model"/> carries a mask.</summary>
    public static bool IsPruned(nn.Module model) => WeightMask.Masked(model).Any();
}
