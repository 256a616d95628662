using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>Creates the <see cref="IPruningMethod"/> that prune.method names.</summary>
public static class PruningMethods
{
    /// <summary>The method of <paramref name="config"/> (validated first).</summary>
    public static IPruningMethod Create(PruneConfig config)
    {
        config.Validate();
        return Create(config.Method, PruneOptions.From(config));
    }

    /// <summary>The method called <paramref name="name"/> with <paramref name="o"/>.</summary>
    public static IPruningMethod Create(string name, PruneOptions o) => name.ToLowerInvariant() switch
    {
        "bcbp" => new BcbpMethod(o.TileRows, o.TileCols, o.Remainder, o.NormP),
        "filter" => new FilterMethod(o.NormP),
        "block" => new BlockMethod(o.BlockRows, o.BlockCols, o.NormP),
        "unstructured" => new UnstructuredMethod(o.NormP),
        "nm" => new NmMethod(o.N, o.M, o.NormP),
        _ => throw new ArgumentException($"prune.method '{name}' is unknown; use one of {string.Join(", ", PruneConfig.Methods)}."),
    };
}
