namespace Bcbp.Models.IO;

/// <summary>
/// The bytes a weight-file reader may allocate for one file, charged before every allocation (pickle, storages,
/// strided copies, headers). Native tensor memory escapes .NET's counters, so the reader keeps this account itself:
/// a hostile or corrupt file that declares more than a bounded multiple of its own size is refused before anything is
/// allocated, instead of growing the process by gigabytes. Tests read <see cref="Charged"/> to assert the bound.
/// </summary>
public sealed class ReadBudget
{
    /// <summary>How many times its size a file may grow to in memory (zip entries may be deflated; views may copy).</summary>
    public const int FileSizeFactor = 4;
    /// <summary>Allowance on top, so tiny files (a pickle of a few bytes) keep room for fixed-size work.</summary>
    public const long SlackBytes = 1L << 20;

    /// <summary>The most bytes this budget lets a reader allocate.</summary>
    public long Limit { get; }
    /// <summary>The bytes charged so far.</summary>
    public long Charged { get; private set; }

    /// <summary>A budget of exactly <paramref name="limit"/> bytes.</summary>
    public ReadBudget(long limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        Limit = limit;
    }

    /// <summary>The default budget for a file of <paramref name="fileBytes"/> bytes:
    /// <see cref="FileSizeFactor"/> times its size plus <see cref="SlackBytes"/>.</summary>
    public static ReadBudget ForFile(long fileBytes)
        => new(fileBytes > (long.MaxValue - SlackBytes) / FileSizeFactor ? long.MaxValue : fileBytes * FileSizeFactor + SlackBytes);

    /// <summary>Charges <paramref name="bytes"/> for <paramref name="what"/> of <paramref name="source"/>, or refuses
    /// with an <see cref="InvalidDataException"/> when they do not fit (nothing is charged then).</summary>
    public void Charge(long bytes, string source, string what)
    {
        if (bytes < 0 || bytes > Limit - Charged)
            throw new InvalidDataException(
                $"{source}: {what} needs {bytes} bytes, more than the {Limit - Charged} left of the reader's {Limit}-byte budget " +
                $"({FileSizeFactor}x the file's size + 1 MiB); the file declares more data than it holds, so it is corrupt or hostile.");
        Charged += bytes;
    }
}
