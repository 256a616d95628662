namespace Bcbp.Training.Config;

// The typed values of the prune section. Files spell them as ConfigNames.Of gives (bcbp, one_shot, own_tile, ...);
// each enum is the one list of its names (validation, docs and the method descriptors read it).

/// <summary><c>prune.method</c>; what each method is lives in Bcbp.Training.Pruning.Methods.PruningMethodInfo.</summary>
public enum PruneMethod { Bcbp, Filter, Block, Unstructured, Nm }

/// <summary><c>prune.scope</c>: each layer reaches its own sparsity, or one ranking over the prunable layers.</summary>
public enum PruneScope { Layer, Global }

/// <summary><c>prune.score</c>: a unit's importance is its L1 or L2 norm.</summary>
public enum PruneScore { L1, L2 }

/// <summary><c>prune.schedule.kind</c>: cubic (Zhu and Gupta 2017), linear, or all at once.</summary>
public enum ScheduleKind { Cubic, Linear, OneShot }

/// <summary><c>prune.remainder</c>: how a last partial tile is handled.</summary>
public enum RemainderRule
{
    /// <summary>tile_rows must divide M (unless M &lt;= tile_rows) and tile_cols must divide K.</summary>
    Error,
    /// <summary>The leftover rows / columns form a smaller last tile of their own.</summary>
    OwnTile,
}
