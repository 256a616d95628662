using System.Buffers.Binary;

namespace Bcbp.Tests.Fuzz;

/// <summary>Seeded mutations of a valid file's bytes, of the kinds that break parsers: flipped bits, bytes set to
/// boundary values, 32/64-bit fields set to huge or negative counts, truncations, insertions, deleted and duplicated
/// chunks. The same seed gives the same mutation, so a failure names the seed that reproduces it.</summary>
static class Mutator
{
    static readonly long[] Interesting = { 0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, int.MaxValue, int.MinValue, uint.MaxValue,
                                           long.MaxValue, long.MinValue, 1L << 32, 1L << 40, 1L << 62 };

    public static byte[] Mutate(byte[] valid, int seed)
    {
        var rng = new Random(seed);
        var bytes = valid.ToList();
        int edits = 1 + rng.Next(3);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = rng.Next(bytes.Count);
            switch (rng.Next(7))
            {
                case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: bytes[at] = (byte)Interesting[rng.Next(6)]; break;
                case 2:
                {
                    var field = new byte[rng.Next(2) == 0 ? 4 : 8];
                    long v = Interesting[rng.Next(Interesting.Length)];
                    if (field.Length == 4) BinaryPrimitives.WriteInt32LittleEndian(field, (int)v);
                    else BinaryPrimitives.WriteInt64LittleEndian(field, v);
                    if (rng.Next(2) == 0) Array.Reverse(field); // big-endian formats too (IDX)
                    for (int i = 0; i < field.Length && at + i < bytes.Count; i++) bytes[at + i] = field[i];
                    break;
                }
                case 3: bytes.RemoveRange(at, bytes.Count - at); break; // truncate
                case 4: bytes.InsertRange(at, Enumerable.Range(0, 1 + rng.Next(16)).Select(_ => (byte)rng.Next(256))); break;
                case 5: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + rng.Next(64))); break;
                default:
                {
                    int n = Math.Min(bytes.Count - at, 1 + rng.Next(64));
                    bytes.InsertRange(rng.Next(bytes.Count), bytes.GetRange(at, n));
                    break;
                }
            }
        }
        return bytes.ToArray();
    }
}
