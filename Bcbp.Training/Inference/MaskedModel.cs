using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Training.Pruning.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// A saved pruned model as the masked dense model the pruning pipeline trained: the architecture from
/// <see cref="ModelFactory"/>, the weights file's parameters and <c>weight_mask</c> buffers, each masked layer's weight
/// multiplied by its mask, in eval mode. This is the reference a sparse conversion must reproduce.
/// </summary>
public static class MaskedModel
{
    /// <summary>Builds <paramref name="arch"/> and loads <paramref name="weights"/> (.pt or .safetensors, strict).</summary>
    /// <exception cref="InvalidDataException">The file has no <c>weight_mask</c> entry (a dense model).</exception>
    public static nn.Module<Tensor, Tensor> Load(string arch, int numClasses, int inChannels, string weights)
    {
        var model = ModelFactory.Create(arch, numClasses, inChannels);
        try
        {
            StateDictIO.Load(model, weights, strict: true, loadMasks: true);
            using var noGrad = no_grad();
            int masked = 0;
            foreach (var (_, module) in model.named_modules())
            {
                var mask = PrunableLayer.MaskOf(module);
                if (mask is null) continue;
                // The pruning hook keeps pruned weights at zero already; multiplying makes any weights file exact.
                module.named_parameters(recurse: false).First(p => p.name == "weight").parameter.mul_(mask);
                masked++;
            }
            if (masked == 0)
                throw new InvalidDataException($"'{weights}' has no {PrunableLayer.MaskBufferName} entries: it is a dense model. " +
                                               "Sparse inference needs a pruned one (a run with a prune section saves its masks).");
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
