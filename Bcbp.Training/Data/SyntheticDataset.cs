namespace Bcbp.Training.Data;

/// <summary>
/// Deterministic random images with a learnable class signal, for smoke runs and tests without any download.
/// Class c has a per-channel tint and a horizontal stripe frequency; each image adds a random stripe phase and pixel
/// noise. Both cues survive random crops and horizontal flips, so augmented training still fits it. The images depend
/// only on the sizes asked for (not on the run's seed), so runs with different seeds see the same data.
/// </summary>
public static class SyntheticDataset
{
    const long DataSeed = 0x5EED;

    /// <summary>Images [count, channels, size, size] (uint8, channel-major) and labels of one split.</summary>
    /// <param name="count">Number of images.</param>
    /// <param name="channels">Channels per image.</param>
    /// <param name="size">Side of the square images.</param>
    /// <param name="numClasses">Number of classes (labels drawn uniformly).</param>
    /// <param name="split">0 for train, 1 for test: the splits share the class signal, not the samples.</param>
    public static (byte[] Images, long[] Labels) Generate(int count, int channels, int size, int numClasses, int split)
    {
        var classRng = DataRng.For(DataSeed, numClasses, channels);
        var tint = new double[numClasses, channels];
        var frequency = new double[numClasses];
        for (int c = 0; c < numClasses; c++)
        {
            for (int ch = 0; ch < channels; ch++) tint[c, ch] = 80 * (classRng.NextDouble() - 0.5);
            frequency[c] = 1 + c % 4;
        }
        var labelRng = DataRng.For(DataSeed, split, 2);
        var labels = new long[count];
        for (int i = 0; i < count; i++) labels[i] = labelRng.NextInt(numClasses);
        long perImage = (long)channels * size * size;
        var images = new byte[count * perImage];
        // One generator per image: the result does not depend on how the images are spread over threads.
        Parallel.For(0, count, i =>
        {
            var rng = DataRng.For(DataSeed, split, 3 + i);
            int label = (int)labels[i];
            double phase = 2 * Math.PI * rng.NextDouble();
            long p = i * perImage;
            for (int ch = 0; ch < channels; ch++)
                for (int y = 0; y < size; y++)
                {
                    double stripe = 30 * Math.Cos(2 * Math.PI * frequency[label] * y / size + phase);
                    for (int x = 0; x < size; x++)
                        images[p++] = (byte)Math.Clamp(Math.Round(128 + tint[label, ch] + stripe + 25 * rng.NextGaussian()), 0, 255);
                }
        });
        return (images, labels);
    }
}
