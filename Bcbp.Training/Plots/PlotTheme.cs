using Bcbp.Models.IO;
using ScottPlot;

namespace Bcbp.Training.Plots;

/// <summary>
/// What every plot shares: the font shipped with the build (DejaVu Sans, Plots/Fonts, given to ScottPlot by file so
/// text renders on machines without fonts), one colour and marker per pruning method across all plots, and saving
/// as PNG with an SVG beside it.
/// </summary>
public static class PlotTheme
{
    /// <summary>Family name the shipped font is registered under.</summary>
    public const string FontName = "DejaVu Sans";

    static readonly object Gate = new();
    static bool _registered;

    static readonly Dictionary<string, (string Hex, MarkerShape Marker)> Methods = new(StringComparer.OrdinalIgnoreCase)
    {
        ["dense"] = ("#000000", MarkerShape.None),
        ["bcbp"] = ("#1f77b4", MarkerShape.FilledCircle),
        ["block"] = ("#ff7f0e", MarkerShape.FilledSquare),
        ["filter"] = ("#d62728", MarkerShape.FilledTriangleUp),
        ["unstructured"] = ("#2ca02c", MarkerShape.FilledDiamond),
        ["nm"] = ("#9467bd", MarkerShape.OpenCircle),
    };
    static readonly string[] Others = { "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

    /// <summary>Folder of the shipped fonts in the build output.</summary>
    public static string FontDir => Path.Combine(AppContext.BaseDirectory, "fonts");

    /// <summary>Registers the shipped font with ScottPlot (once) and makes it the default; throws naming the file
    /// when the build output lacks it.</summary>
    public static void UseShippedFont()
    {
        lock (Gate)
        {
            if (_registered) return;
            string regular = Path.Combine(FontDir, "DejaVuSans.ttf"), bold = Path.Combine(FontDir, "DejaVuSans-Bold.ttf");
            foreach (var f in new[] { regular, bold })
                if (!File.Exists(f))
                    throw new FileNotFoundException($"plot font '{f}' is missing from the build output (Bcbp.Training/Plots/Fonts is copied there by the build); rebuild Bcbp.Training", f);
            Fonts.AddFontFile(FontName, regular, bold: false, italic: false);
            Fonts.AddFontFile(FontName, bold, bold: true, italic: false);
            Fonts.Default = FontName;
            _registered = true;
        }
    }

    /// <summary>A new plot that uses the shipped font.</summary>
    public static Plot NewPlot()
    {
        UseShippedFont();
        return new Plot();
    }

    /// <summary>The colour of <paramref name="method"/> (bcbp blue, block orange, filter red, ...; dense black), the
    /// same in every plot; an unknown method gets a stable colour from its name.</summary>
    public static Color ColorOf(string method)
        => Color.FromHex(Methods.TryGetValue(method, out var s) ? s.Hex : Others[(int)(StableHash(method) % (uint)Others.Length)]);

    public static MarkerShape MarkerOf(string method) => Methods.TryGetValue(method, out var s) ? s.Marker : MarkerShape.FilledSquare;

    /// <summary>Writes <paramref name="plot"/> as <paramref name="pngPath"/> and the same plot as SVG beside it
    /// (same name, .svg), both atomically; returns both paths.</summary>
    public static IReadOnlyList<string> Save(Plot plot, string pngPath, int width, int height)
    {
        UseShippedFont();
        plot.Font.Set(FontName);
        var svgPath = Path.ChangeExtension(pngPath, ".svg");
        AtomicFile.WriteFile(pngPath, tmp => plot.SavePng(tmp, width, height));
        // Skia's SVG backend has no dash effects (it prints "Unsupported path effect" per dashed line): the SVG draws
        // dashed lines solid; colours and the legend still tell them apart.
        var dashed = plot.GetPlottables().OfType<IHasLine>().Where(l => l.LinePattern.Name != LinePattern.Solid.Name)
                         .Select(l => (Line: l, Pattern: l.LinePattern)).ToList();
        foreach (var d in dashed) d.Line.LinePattern = LinePattern.Solid;
        try { AtomicFile.WriteFile(svgPath, tmp => plot.SaveSvg(tmp, width, height)); }
        finally { foreach (var d in dashed) d.Line.LinePattern = d.Pattern; }
        return new[] { pngPath, svgPath };
    }

    static uint StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return h;
    }
}
