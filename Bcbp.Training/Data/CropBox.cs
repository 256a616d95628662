namespace Bcbp.Training.Data;

/// <summary>A crop rectangle in source-image pixels.</summary>
public readonly record struct CropBox(int X, int Y, int Width, int Height)
{
    /// <summary>
    /// torchvision's RandomResizedCrop parameters (scale 0.08..1 of the area, aspect ratio 3/4..4/3, log-uniform):
    /// up to 10 tries, then a center crop clamped to the ratio range.
    /// </summary>
    public static CropBox RandomResized(int width, int height, ref DataRng rng, double minScale = 0.08, double maxScale = 1.0)
    {
        double area = (double)width * height, logLo = Math.Log(3.0 / 4), logHi = Math.Log(4.0 / 3);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (minScale + (maxScale - minScale) * rng.NextDouble());
            double ratio = Math.Exp(logLo + (logHi - logLo) * rng.NextDouble());
            int w = (int)Math.Round(Math.Sqrt(target * ratio)), h = (int)Math.Round(Math.Sqrt(target / ratio));
            if (w > 0 && h > 0 && w <= width && h <= height)
                return new CropBox(rng.NextInt(width - w + 1), rng.NextInt(height - h + 1), w, h);
        }
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < 3.0 / 4) ch = (int)Math.Round(cw / (3.0 / 4));
        else if (inRatio > 4.0 / 3) cw = (int)Math.Round(ch * (4.0 / 3));
        ch = Math.Min(ch, height); cw = Math.Min(cw, width);
        return new CropBox((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    /// <summary>Evaluation crop: resize the shorter side to size*256/224, then cut the central size x size square;
    /// in source pixels, the central square of side shorter*224/256.</summary>
    public static CropBox Center(int width, int height)
    {
        int side = Math.Max(1, (int)Math.Round(Math.Min(width, height) * 224.0 / 256));
        return new CropBox((width - side) / 2, (height - side) / 2, side, side);
    }
}
