namespace Bcbp.Models.IO;

/// <summary>A key whose tensor shape differs between the checkpoint and the model.</summary>
public sealed record ShapeMismatch(string Key, long[] ModelShape, long[] CheckpointShape)
{
    /// <inheritdoc/>
    public override string ToString()
        => $"{Key}: model [{string.Join(", ", ModelShape)}] vs checkpoint [{string.Join(", ", CheckpointShape)}]";
}

/// <summary>
/// What loading a state dict into a module did, by key (PyTorch's <c>missing_keys</c> / <c>unexpected_keys</c>, plus
/// shape mismatches and the pruning masks that were registered as new buffers).
/// </summary>
public sealed record StateDictLoadResult(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<ShapeMismatch> Mismatched,
    IReadOnlyList<string> RegisteredMasks)
{
    /// <summary>True when every model entry was loaded and every checkpoint entry was used.</summary>
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && Mismatched.Count == 0;

    /// <summary>A multi-line summary naming the problem keys (at most 20 of each kind).</summary>
    public string Describe()
    {
        var lines = new List<string> { $"{Loaded.Count} loaded, {RegisteredMasks.Count} masks registered" };
        void Add(string title, IEnumerable<string> keys, int count)
        {
            if (count == 0) return;
            lines.Add($"{title} ({count}): {string.Join(", ", keys.Take(20))}{(count > 20 ? ", ..." : "")}");
        }
        Add("missing in checkpoint", Missing, Missing.Count);
        Add("unexpected in checkpoint", Unexpected, Unexpected.Count);
        Add("shape mismatch", Mismatched.Select(m => m.ToString()), Mismatched.Count);
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>A strict load found missing, unexpected or mis-shaped keys; the model was left unchanged.</summary>
public sealed class StateDictMismatchException : InvalidOperationException
{
    /// <summary>The full comparison.</summary>
    public StateDictLoadResult Result { get; }

    /// <summary>Creates the exception for <paramref name="result"/>; <paramref name="source"/> names the checkpoint.</summary>
    public StateDictMismatchException(StateDictLoadResult result, string source)
        : base($"{source} does not match the model (strict load). To load only the matching keys set model.strict: false in the config " +
               $"(from code: strict: false); for a checkpoint with another class count set model.reset_head: true:{Environment.NewLine}{result.Describe()}")
        => Result = result;
}
