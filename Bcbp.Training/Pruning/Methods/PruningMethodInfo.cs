using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// What a pruning method is, in one place: its <see cref="PruneMethod"/> (the config name), the unit it removes as the
/// report writes it, whether it is structural (removes whole filters, so the BatchNorm after a pruned filter is
/// silenced too and the filter can later be cut out physically), whether it chooses units on the tile grid (so the
/// grid must fit each layer and grouped convs are left dense), and how to build it. <see cref="All"/> is the one
/// list the factory, the hook, layer discovery and the report read.
/// </summary>
public sealed record PruningMethodInfo(PruneMethod Method, Func<PruneOptions, string> Unit, bool Structural, bool UsesTiles,
                                       Func<PruneOptions, IPruningMethod> Create)
{
    /// <summary>The config name (prune.method).</summary>
    public string Name => ConfigNames.Of(Method);

    /// <summary>Every method, in <see cref="PruneMethod"/> order.</summary>
    public static IReadOnlyList<PruningMethodInfo> All { get; } = new PruningMethodInfo[]
    {
        new(PruneMethod.Bcbp, o => $"{o.TileRows}x1" + (o.TileCols > 0 ? $" (tile {o.TileRows}x{o.TileCols})" : ""),
            Structural: false, UsesTiles: true, o => new BcbpMethod(o.TileRows, o.TileCols, o.Remainder, o.NormP)),
        new(PruneMethod.Filter, _ => "row", Structural: true, UsesTiles: false, o => new FilterMethod(o.NormP)),
        new(PruneMethod.Block, o => $"{o.BlockRows}x{o.BlockCols}", Structural: false, UsesTiles: false,
            o => new BlockMethod(o.BlockRows, o.BlockCols, o.NormP)),
        new(PruneMethod.Unstructured, _ => "1x1", Structural: false, UsesTiles: false, o => new UnstructuredMethod(o.NormP)),
        new(PruneMethod.Nm, o => $"{o.N}:{o.M}", Structural: false, UsesTiles: false, o => new NmMethod(o.N, o.M, o.NormP)),
    };

    /// <summary>The descriptor of <paramref name="method"/>.</summary>
    public static PruningMethodInfo Of(PruneMethod method) => All.First(d => d.Method == method);
}
