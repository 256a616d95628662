using Bcbp.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Costs;

/// <summary>Counts a model's Conv2d/Linear MACs and parameters at one input size, with masked weights removed
/// (see <see cref="ModelCost"/> for what is counted).</summary>
public static class CostCounter
{
    /// <summary>
    /// Runs one zero image of <paramref name="inputShape"/> ([C, H, W]) through <paramref name="model"/> to learn each
    /// layer's output size, then counts. A layer's mask is <paramref name="masks"/>[<c>{layer}.weight_mask</c>] if
    /// given, else the module's own <c>weight_mask</c> buffer, else none (all weights kept).
    /// </summary>
    public static ModelCost Count(nn.Module<Tensor, Tensor> model, long[] inputShape, IReadOnlyDictionary<string, Tensor>? masks = null)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"input shape must be [channels, height, width], got [{string.Join(", ", inputShape)}]");
        var layers = model.named_modules().Where(m => m.module is Conv2d or Linear).ToList();
        var positions = new Dictionary<string, long>();
        var hooks = new List<Action>();
        foreach (var (name, module) in layers)
        {
            var layerName = name;
            var layer = (nn.Module<Tensor, Tensor>)module;
            var hook = layer.register_forward_hook((m, input, output) =>
            {
                // Output [N, C_out, H, W] or [N, out]: positions per image and output channel.
                positions[layerName] = output.numel() / (output.shape[0] * output.shape[1]);
                return output;
            });
            hooks.Add(hook.remove);
        }
        bool wasTraining = model.training;
        try
        {
            model.eval();
            using var _ = no_grad();
            using var x = zeros(new[] { 1L }.Concat(inputShape).ToArray());
            using var y = model.call(x);
        }
        finally
        {
            foreach (var remove in hooks) remove();
            model.train(wasTraining);
        }

        var result = new List<LayerCost>();
        foreach (var (name, module) in layers)
        {
            if (!positions.TryGetValue(name, out var outPositions)) continue; // not on the forward path
            var weight = module.named_parameters().First(p => p.name == "weight").parameter;
            var bias = module.named_parameters().FirstOrDefault(p => p.name == "bias").parameter;
            var mask = masks?.GetValueOrDefault(WeightMask.KeyOf(name)) ?? WeightMask.Of(module);
            if (mask is not null && !mask.shape.SequenceEqual(weight.shape))
                throw new InvalidDataException($"layer '{name}': weight_mask shape [{string.Join(", ", mask.shape)}] differs from weight shape [{string.Join(", ", weight.shape)}]");
            result.Add(new LayerCost
            {
                Name = name,
                Kind = module is Conv2d ? "conv2d" : "linear",
                WeightShape = weight.shape,
                OutputPositions = outPositions,
                Weights = weight.numel(),
                KeptWeights = mask is null ? weight.numel() : mask.count_nonzero().item<long>(),
                Bias = bias?.numel() ?? 0,
            });
        }
        return new ModelCost { InputShape = inputShape, Layers = result };
    }
}
