using System.Globalization;

namespace Bcbp.Training.Suites;

/// <summary>
/// Which cells of a suite this process runs, and how many at once: <c>--shard I/N</c> runs every N-th cell of the plan
/// starting at I (an array job spreads a grid over machines that share the output folder: Slurm's
/// <c>--array=0-(N-1)</c> with <c>--shard $SLURM_ARRAY_TASK_ID/N</c>, Kubernetes' indexed Jobs with
/// <c>JOB_COMPLETION_INDEX</c>); <c>--gpus G</c> runs G cells at a time, each on its own GPU. A pruning cell whose dense
/// cell belongs to another shard waits for that dense run to finish (polled every <see cref="Poll"/>), it is not refused.
/// </summary>
/// <param name="Index">This shard, 0..Count-1.</param>
/// <param name="Count">Shards of the suite.</param>
/// <param name="Parallel">Cells run at the same time.</param>
public sealed record SuiteShard(int Index = 0, int Count = 1, int Parallel = 1)
{
    /// <summary>The whole suite, one cell at a time.</summary>
    public static SuiteShard All { get; } = new();

    /// <summary>How often a waiting cell looks at another shard's dense run folder.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether this shard runs the cell at <paramref name="planIndex"/> of the plan.</summary>
    public bool Owns(int planIndex) => planIndex % Count == Index;

    /// <summary>The shard that runs the cell at <paramref name="planIndex"/>.</summary>
    public int OwnerOf(int planIndex) => planIndex % Count;

    /// <summary>Parses <c>I/N</c> (0 &lt;= I &lt; N).</summary>
    /// <exception cref="ArgumentException">Not of that form: one line with an example.</exception>
    public static (int Index, int Count) Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 && i < n)
            return (i, n);
        throw new ArgumentException($"--shard expects I/N with 0 <= I < N (for example --shard 0/4, or --shard $SLURM_ARRAY_TASK_ID/4), got '{text}'");
    }
}
