using System.Globalization;

namespace Bcbp.Training.Reports;

/// <summary>Number formats the report's views share (invariant culture, so files do not depend on the locale).</summary>
public static class ReportFormat
{
    static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Percent(double ratio, int decimals = 1) => (ratio * 100).ToString("F" + decimals, C) + "%";
    public static string Number(double value, int decimals = 2) => value.ToString("F" + decimals, C);
    public static string Signed(double value, int decimals = 2) => (value >= 0 ? "+" : "") + value.ToString("F" + decimals, C);

    /// <summary>1234567 -> "1.23 M"; 40960 -> "41.0 K".</summary>
    public static string Count(long value) => value switch
    {
        >= 1_000_000_000 => (value / 1e9).ToString("F2", C) + " G",
        >= 1_000_000 => (value / 1e6).ToString("F2", C) + " M",
        >= 1_000 => (value / 1e3).ToString("F1", C) + " K",
        _ => value.ToString(C),
    };

    /// <summary>Seconds under two minutes as "42 s", longer as "3.5 min" or "2.25 h".</summary>
    public static string Duration(double seconds) => seconds switch
    {
        < 120 => seconds.ToString("F0", C) + " s",
        < 7200 => (seconds / 60).ToString("F1", C) + " min",
        _ => (seconds / 3600).ToString("F2", C) + " h",
    };

    public static string Csv(double? value, string format = "R") => value?.ToString(format, C) ?? "";
}
