namespace Bcbp.Training.Fitting;

/// <summary>Derives the seed of each epoch from the run's seed, so a run resumed at epoch e draws the same random
/// numbers (initialization aside) as one that never stopped.</summary>
public static class Seeds
{
    /// <summary>A well-mixed 63-bit seed for (run seed, phase, epoch) (SplitMix64 finalizer).</summary>
    public static long ForEpoch(int seed, string phase, int epoch)
    {
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)StableHash(phase) << 20 ^ (ulong)(uint)epoch;
        return (long)(Data.DataRng.Mix(z) & long.MaxValue);
    }

    // string.GetHashCode is randomized per process; resume needs the same value in every process.
    static int StableHash(string s)
    {
        unchecked
        {
            int h = 17;
            foreach (char c in s) h = h * 31 + c;
            return h;
        }
    }
}
