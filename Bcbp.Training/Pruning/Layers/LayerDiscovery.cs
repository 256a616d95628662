using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Layers;

/// <summary>
/// Finds the prunable layers of a model: every Conv2d and Linear in <c>named_modules</c> order, minus the
/// <c>prune.exclude</c> patterns, each with its target sparsity (the first matching <c>prune.overrides</c> entry,
/// else <c>prune.sparsity</c>).
/// </summary>
public static class LayerDiscovery
{
    /// <summary>Every Conv2d / Linear of <paramref name="model"/> with its module name, in registration order.</summary>
    public static IReadOnlyList<(string Name, nn.Module Module)> Candidates(nn.Module model) =>
        model.named_modules()
            .Where(m => m.module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear)
            .Select(m => (m.name, m.module))
            .ToList();

    /// <summary>
    /// <c>@first</c>: the first Conv2d in named_modules order (which lists a module's children before its
    /// grandchildren, so the stem conv1 of a ResNet comes before layer1.0.conv1; features.0 for VGG); the first
    /// layer when there is no conv.
    /// </summary>
    static string First(IReadOnlyList<(string Name, nn.Module Module)> c) =>
        c.FirstOrDefault(x => x.Module is TorchSharp.Modules.Conv2d).Name ?? c[0].Name;

    /// <summary><c>@last</c>: the last Linear in named_modules order (fc, classifier.6); the last layer when there is no Linear.</summary>
    static string Last(IReadOnlyList<(string Name, nn.Module Module)> c) =>
        c.LastOrDefault(x => x.Module is TorchSharp.Modules.Linear).Name ?? c[^1].Name;

    /// <summary>
    /// Layers with weights that <paramref name="config"/>'s method leaves dense: grouped and depthwise convs under BCBP
    /// (a tile spans the columns of one dense GEMM), and modules of a type pruning does not know (any module with a
    /// weight of 2 or more dimensions that is not a Conv2d or Linear: Conv1d, ConvTranspose2d, Embedding, ...).
    /// </summary>
    public static IReadOnlyList<LeftDenseLayer> LeftDense(nn.Module model, PruneConfig config)
    {
        bool tiles = PruningMethodInfo.Of(config.MethodKind).UsesTiles;
        var result = new List<LeftDenseLayer>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is TorchSharp.Modules.Conv2d { groups: > 1 } conv && tiles)
                result.Add(new(name, $"grouped convolution (groups={conv.groups}): BCBP balances tiles of one dense GEMM"));
            else if (module is not (TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear)
                     && module.named_parameters(recurse: false).Any(p => p.name == "weight" && p.parameter.dim() >= 2))
                result.Add(new(name, $"{module.GetType().Name} is not a layer type pruning knows (Conv2d, Linear)"));
        }
        return result;
    }

    /// <summary>The layers <paramref name="config"/> prunes. Throws when nothing is left to prune.</summary>
    public static IReadOnlyList<PrunableLayer> Discover(nn.Module model, PruneConfig config)
    {
        var leftDense = LeftDense(model, config).Select(l => l.Name).ToHashSet();
        var candidates = Candidates(model).Where(c => !leftDense.Contains(c.Name)).ToList();
        if (candidates.Count == 0)
            throw new ArgumentException("the model has no Conv2d or Linear layer to prune.");
        var excluded = new HashSet<string>();
        foreach (var pattern in config.EffectiveExclude)
        {
            if (pattern == "@first") excluded.Add(First(candidates));
            else if (pattern == "@last") excluded.Add(Last(candidates));
            else
            {
                var p = new NamePattern(pattern);
                foreach (var c in candidates.Where(c => p.Matches(c.Name))) excluded.Add(c.Name);
            }
        }
        var overrides = config.Overrides.Select(o => (Pattern: new NamePattern(o.Pattern), o.Sparsity)).ToList();
        var layers = candidates
            .Where(c => !excluded.Contains(c.Name))
            .Select(c =>
            {
                var o = overrides.FirstOrDefault(o => o.Pattern.Matches(c.Name));
                return new PrunableLayer(c.Name, c.Module, o.Pattern is null ? config.Sparsity : o.Sparsity, o.Pattern is not null);
            })
            .ToList();
        if (layers.Count == 0)
            throw new ArgumentException($"prune.exclude [{string.Join(", ", config.EffectiveExclude)}] excludes every prunable layer " +
                                        $"({string.Join(", ", candidates.Select(c => c.Name))}); narrow the patterns.");
        return layers;
    }
}
