namespace Bcbp.Training.Data;

/// <summary>
/// The random numbers of shuffling and augmentation: SplitMix64, seeded from (seed, epoch, stream). Its own generator
/// rather than libtorch's or System.Random, so an order is the same on CPU and GPU, from any thread, in any .NET
/// version, and a resumed run at epoch E sees exactly the batches of an uninterrupted one.
/// </summary>
public struct DataRng
{
    ulong _state;

    public DataRng(ulong seed) => _state = seed;

    /// <summary>A generator for one (seed, epoch, stream) triple; streams separate shuffling from augmentation.</summary>
    public static DataRng For(long seed, long epoch, long stream) =>
        new(Mix(Mix(Mix(0x9E3779B97F4A7C15UL ^ (ulong)seed) ^ (ulong)epoch) ^ (ulong)stream));

    /// <summary>The SplitMix64 finalizer.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, n).</summary>
    public int NextInt(int n) => (int)((NextULong() >> 11) * (double)n / (1UL << 53));

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal (Box-Muller).</summary>
    public double NextGaussian()
    {
        double u = 1.0 - NextDouble(), v = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    /// <summary>A uniformly random permutation of 0..n-1 (Fisher-Yates).</summary>
    public long[] Permutation(int n)
    {
        var p = new long[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
