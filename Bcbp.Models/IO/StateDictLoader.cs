using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>
/// Copies a state dict into a module by name, like PyTorch's <c>load_state_dict</c>: strict mode refuses any
/// missing, unexpected or mis-shaped key (and changes nothing); non-strict mode loads the matching keys and reports
/// the rest. Values are converted to each target's dtype and device (an fp16 checkpoint loads into an fp32 model).
/// With <c>loadMasks</c>, a checkpoint's <c>*.weight_mask</c> entries (<see cref="WeightMask"/>) for modules that have a same-shaped
/// <c>weight</c> but no mask yet are registered as <c>weight_mask</c> buffers, so pruned checkpoints load back.
/// </summary>
public static class StateDictLoader
{
    /// <summary>Loads <paramref name="source"/> into <paramref name="module"/>.</summary>
    /// <exception cref="StateDictMismatchException">Strict and the keys or shapes differ.</exception>
    public static StateDictLoadResult Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source,
        bool strict = true, bool loadMasks = false, string sourceName = "checkpoint")
    {
        var target = module.state_dict();
        var newMasks = loadMasks ? MasksToRegister(module, target, source) : new Dictionary<string, (nn.Module Owner, Tensor Weight)>();

        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k) && !newMasks.ContainsKey(k)).ToList();
        var mismatched = new List<ShapeMismatch>();
        var loadable = new List<string>();
        foreach (var (key, t) in target)
        {
            if (!source.TryGetValue(key, out var s)) continue;
            if (s.shape.SequenceEqual(t.shape)) loadable.Add(key);
            else mismatched.Add(new ShapeMismatch(key, t.shape, s.shape));
        }

        var result = new StateDictLoadResult(loadable, missing, unexpected, mismatched, newMasks.Keys.ToList());
        if (strict && !result.IsExact) throw new StateDictMismatchException(result, sourceName);

        using (torch.no_grad())
        {
            foreach (var key in loadable) target[key].copy_(source[key]);
            foreach (var (key, (owner, weight)) in newMasks)
                WeightMask.Register(owner, source[key].to(weight.dtype, weight.device).clone());
        }
        return result;
    }

    /// <summary>Checkpoint masks whose module has a same-shaped weight and no mask buffer yet.</summary>
    private static Dictionary<string, (nn.Module Owner, Tensor Weight)> MasksToRegister(
        nn.Module module, Dictionary<string, Tensor> target, IReadOnlyDictionary<string, Tensor> source)
    {
        var modules = module.named_modules().ToDictionary(m => m.name, m => m.module);
        var masks = new Dictionary<string, (nn.Module, Tensor)>();
        foreach (var (key, mask) in source)
        {
            if (target.ContainsKey(key) || !WeightMask.IsKey(key)) continue;
            var prefix = WeightMask.LayerOf(key);
            var owner = prefix.Length == 0 ? module : modules.GetValueOrDefault(prefix);
            var weightKey = prefix.Length == 0 ? "weight" : prefix + ".weight";
            if (owner is null || !target.TryGetValue(weightKey, out var weight) || !weight.shape.SequenceEqual(mask.shape)) continue;
            masks[key] = (owner, weight);
        }
        return masks;
    }
}
