using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Bcbp.Training.Config;

namespace Bcbp.Training.Cli;

/// <summary>Factories for the kinds of options the commands share, so each kind parses, validates and shows its
/// default the same way everywhere.</summary>
public static class CliOptions
{
    /// <summary>A file or folder option whose bare name is looked up as <see cref="PathResolver"/> says (e.g.
    /// <c>--suite fashion_mnist</c> finds experiments/fashion_mnist.json); the value is the full path. A missing one is
    /// a usage error that lists the places tried.</summary>
    public static Option<string?> Path(string name, PathKind kind, string description, bool required = false) => new(name)
    {
        Description = description,
        HelpName = kind.IsDirectory ? "DIR" : "FILE",
        Required = required,
        CustomParser = r =>
        {
            try { return PathResolver.Resolve(r.Tokens[0].Value, kind, Directory.GetCurrentDirectory()); }
            catch (Exception e) when (e is IOException or ArgumentException) { r.AddError(e.Message); return null; }
        },
    };

    /// <summary>Repeatable <c>--set key=value</c> config overrides.</summary>
    public static Option<List<string>> Sets(string description) => new("--set")
    {
        Description = description, HelpName = "KEY=VALUE", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false,
        Validators =
        {
            r =>
            {
                foreach (var t in r.Tokens.Where(t => !t.Value.Contains('=')))
                    r.AddError($"--set expects key=value (for example --set train.epochs=3), got '{t.Value}'");
            },
        },
    };

    /// <summary>A switch (present: true).</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>An integer at least <paramref name="min"/>, with a default.</summary>
    public static Option<int> Int(string name, int fallback, string description, int min = 1) =>
        WithMin(new Option<int>(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = "N" }, min);

    /// <summary>An integer at least <paramref name="min"/> whose default depends on other inputs (null: not given);
    /// the description says the default.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = 1) =>
        WithMin(new Option<int?>(name) { Description = description, HelpName = "N" }, min);

    /// <summary>A string, with a default.</summary>
    public static Option<string> Text(string name, string fallback, string description, string helpName = "TEXT") =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = helpName };

    /// <summary>One of <paramref name="values"/> (completed by the shell; anything else is refused with the closest
    /// value), with a default.</summary>
    public static Option<string?> Choice(string name, string? fallback, string description, params string[] values)
    {
        var o = new Option<string?>(name)
        {
            Description = description,
            HelpName = values.Length <= 4 ? string.Join('|', values) : name.TrimStart('-').ToUpperInvariant(),
        };
        if (fallback is not null) o.DefaultValueFactory = _ => fallback;
        o.CompletionSources.Add(values);
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } v && !values.Contains(v))
                r.AddError($"{name} must be one of {string.Join(", ", values)}; got '{v}'" +
                           (KeySuggester.Closest(v, values) is { } best ? $"; did you mean '{best}'?" : ""));
        });
        return o;
    }

    /// <summary>A comma-separated list of positive integers (<c>--batch 1,32,256</c>), with a default; read it with
    /// <see cref="Ints"/>.</summary>
    public static Option<string> IntList(string name, string fallback, string description) =>
        List(name, fallback, description, csv => TryInts(csv) is not null, "positive integers");

    /// <summary>A comma-separated list of numbers in [0, 1) (<c>--sparsity 0.5,0.75</c>), with a default; read it with
    /// <see cref="Fractions"/>.</summary>
    public static Option<string> FractionList(string name, string fallback, string description) =>
        List(name, fallback, description, csv => TryFractions(csv) is not null, "numbers in [0, 1)");

    /// <summary>Distinct seeds (integers >= 0, <c>--seeds 0,1,2</c>), no default; read it with <see cref="Seeds"/>.</summary>
    public static Option<string?> SeedList(string name, string description)
    {
        var o = new Option<string?>(name) { Description = description, HelpName = "N,N,..." };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } v && TrySeeds(v) is null)
                r.AddError($"{name} expects distinct comma-separated integers >= 0 (for example 0,1,2), got '{v}'");
        });
        return o;
    }

    /// <summary>The values of a <see cref="SeedList"/> option; empty when it was not given.</summary>
    public static int[] Seeds(string? csv) => csv is null ? Array.Empty<int>() : TrySeeds(csv) ?? throw new ArgumentException($"expected distinct integers >= 0, got '{csv}'");

    static int[]? TrySeeds(string csv)
    {
        var values = TryList<int>(csv, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : (int?)null);
        return values is { Length: > 0 } && values.Distinct().Count() == values.Length ? values : null;
    }

    /// <summary>The values of an <see cref="IntList"/> option (validated when it was parsed).</summary>
    public static int[] Ints(string csv) => TryInts(csv) ?? throw new ArgumentException($"expected positive integers, got '{csv}'");

    /// <summary>The values of a <see cref="FractionList"/> option (validated when it was parsed).</summary>
    public static double[] Fractions(string csv) => TryFractions(csv) ?? throw new ArgumentException($"expected numbers in [0, 1), got '{csv}'");

    static int[]? TryInts(string csv) => TryList<int>(csv, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1 ? v : (int?)null);

    static double[]? TryFractions(string csv) =>
        TryList<double>(csv, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && v < 1 ? v : (double?)null);

    static T[]? TryList<T>(string csv, Func<string, T?> parse) where T : struct
    {
        var values = csv.Split(',', StringSplitOptions.TrimEntries).Select(parse).ToArray();
        return values.All(v => v.HasValue) ? values.Select(v => v!.Value).ToArray() : null;
    }

    static Option<string> List(string name, string fallback, string description, Func<string, bool> valid, string what)
    {
        var o = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = "A,B,..." };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } v && !valid(v))
                r.AddError($"{name} expects comma-separated {what} (for example {fallback}), got '{v}'");
        });
        return o;
    }

    static Option<T> WithMin<T>(Option<T> o, int min)
    {
        o.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && r.GetValueOrDefault<T>() is int v && v < min)
                r.AddError($"{o.Name} must be at least {min}, got {v}");
        });
        return o;
    }
}
