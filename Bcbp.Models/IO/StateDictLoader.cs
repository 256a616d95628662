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
        var result = Compare(module, target, source.ToDictionary(kv => kv.Key, kv => kv.Value.shape), loadMasks);
        if (strict && !result.IsExact) throw new StateDictMismatchException(result, sourceName);

        var modules = module.named_modules().ToDictionary(m => m.name, m => m.module);
        using (torch.no_grad())
        {
            foreach (var key in result.Loaded) target[key].copy_(source[key]);
            foreach (var key in result.RegisteredMasks)
            {
                var prefix = WeightMask.LayerOf(key);
                var weight = target[prefix.Length == 0 ? "weight" : prefix + ".weight"];
                var owner = prefix.Length == 0 ? module : modules[prefix];
                WeightMask.Register(owner, source[key].to(weight.dtype, weight.device).clone());
            }
        }
        return result;
    }

    /// <summary>What loading tensors of these names and shapes into <paramref name="module"/> would do, without any
    /// tensor data (so a weights file is checked against the model before its storages are read).</summary>
    public static StateDictLoadResult Compare(nn.Module module, IReadOnlyDictionary<string, long[]> shapes, bool loadMasks = false)
        => Compare(module, module.state_dict(), shapes, loadMasks);

    static StateDictLoadResult Compare(nn.Module module, Dictionary<string, Tensor> target, IReadOnlyDictionary<string, long[]> shapes, bool loadMasks)
    {
        var newMasks = loadMasks ? MasksToRegister(module, target, shapes) : new List<string>();
        var missing = target.Keys.Where(k => !shapes.ContainsKey(k)).ToList();
        var unexpected = shapes.Keys.Where(k => !target.ContainsKey(k) && !newMasks.Contains(k)).ToList();
        var mismatched = new List<ShapeMismatch>();
        var loadable = new List<string>();
        foreach (var (key, t) in target)
        {
            if (!shapes.TryGetValue(key, out var s)) continue;
            if (s.SequenceEqual(t.shape)) loadable.Add(key);
            else mismatched.Add(new ShapeMismatch(key, t.shape, s));
        }
        return new StateDictLoadResult(loadable, missing, unexpected, mismatched, newMasks);
    }

    /// <summary>Checkpoint masks whose module has a same-shaped weight and no mask buffer yet.</summary>
    private static List<string> MasksToRegister(nn.Module module, Dictionary<string, Tensor> target, IReadOnlyDictionary<string, long[]> source)
    {
        var modules = module.named_modules().Select(m => m.name).ToHashSet();
        var masks = new List<string>();
        foreach (var (key, shape) in source)
        {
            if (target.ContainsKey(key) || !WeightMask.IsKey(key)) continue;
            var prefix = WeightMask.LayerOf(key);
            var weightKey = prefix.Length == 0 ? "weight" : prefix + ".weight";
            if (prefix.Length > 0 && !modules.Contains(prefix) || !target.TryGetValue(weightKey, out var weight) || !weight.shape.SequenceEqual(shape)) continue;
            masks.Add(key);
        }
        return masks;
    }
}
