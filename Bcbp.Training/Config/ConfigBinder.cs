using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Bcbp.Training.Config;

/// <summary>
/// Binds an <see cref="IConfiguration"/> tree (from the JSON or YAML provider) to the typed sections, mapping the
/// file's snake_case keys to PascalCase properties (<c>output_dir</c> -> <c>OutputDir</c>, by
/// <see cref="JsonNamingPolicy.SnakeCaseLower"/>, the same rule <see cref="ConfigSerializer"/> writes with).
/// Unlike <c>ConfigurationBinder.Bind</c> it collects every unknown key and type error instead of stopping at the
/// first, and a list replaces the default list instead of appending to it. The providers write <c>null</c> and
/// <c>{}</c> as a null value (a nullable section or list becomes null, another section keeps its defaults) and
/// <c>[]</c> as "" (an empty list).
/// </summary>
public static class ConfigBinder
{
    /// <summary>The file spelling of a property name.</summary>
    public static string KeyOf(PropertyInfo p) => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);

    /// <summary>Bound properties of a section type: public, instance, read-write.</summary>
    public static IEnumerable<PropertyInfo> Keys(Type section) =>
        section.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite);

    /// <summary>Every key path of <typeparamref name="T"/>'s schema ("train.epochs", "prune.schedule.kind").</summary>
    public static IReadOnlyList<string> AllPaths<T>() { var l = new List<string>(); CollectPaths(typeof(T), "", l); return l; }

    /// <summary>A new <typeparamref name="T"/> with the values of <paramref name="config"/>; problems go to <paramref name="errors"/>.</summary>
    public static T Bind<T>(IConfiguration config, ConfigErrors errors) where T : new()
    {
        var allPaths = AllPaths<T>();
        return (T)BindSection(typeof(T), config.GetChildren(), "", errors, allPaths);
    }

    static object BindSection(Type type, IEnumerable<IConfigurationSection> children, string path, ConfigErrors errors,
                              IReadOnlyList<string> allPaths)
    {
        var instance = Activator.CreateInstance(type)!;
        var props = Keys(type).ToDictionary(KeyOf, StringComparer.OrdinalIgnoreCase);
        var nullability = new NullabilityInfoContext();
        foreach (var child in children)
        {
            string childPath = ConfigErrors.Join(path, child.Key);
            if (!props.TryGetValue(child.Key, out var prop))
            {
                errors.Add(childPath, UnknownKey(child.Key, props.Keys, path, allPaths));
                continue;
            }
            bool nullable = nullability.Create(prop).WriteState == NullabilityState.Nullable;
            if (TryBindValue(prop.PropertyType, nullable, child, childPath, errors, allPaths, out var value))
                prop.SetValue(instance, value);
        }
        return instance;
    }

    static string UnknownKey(string key, IEnumerable<string> siblings, string path, IReadOnlyList<string> allPaths)
    {
        var hint = KeySuggester.Closest(key, siblings);
        if (hint is not null) return $"unknown key; did you mean '{ConfigErrors.Join(path, hint)}'?";
        // The key may belong to another section (batch_size under train instead of data).
        var elsewhere = allPaths.Where(p => p.Split('.')[^1].Equals(key, StringComparison.OrdinalIgnoreCase)).ToList();
        if (elsewhere.Count > 0) return $"unknown key; did you mean '{string.Join("' or '", elsewhere)}'?";
        return $"unknown key; valid keys here: {string.Join(", ", siblings)}";
    }

    static bool TryBindValue(Type type, bool nullable, IConfigurationSection node, string path, ConfigErrors errors,
                             IReadOnlyList<string> allPaths, out object? value)
    {
        value = null;
        var children = node.GetChildren().ToList();
        // The providers write JSON null and {} as a null value, [] and "" as an empty string (YAML and --set alike).
        bool isNull = node.Value is null && children.Count == 0;
        bool empty = string.IsNullOrEmpty(node.Value) && children.Count == 0;
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null) { type = underlying; nullable = true; }

        if (type == typeof(string) || type == typeof(int) || type == typeof(long) || type == typeof(double) || type == typeof(bool))
        {
            if (children.Count > 0) { errors.Add(path, $"expected {Describe(type)}, got a section or list"); return false; }
            if (type == typeof(string) && !isNull) { value = node.Value; return true; }
            if (empty)
            {
                if (nullable) return true;
                errors.Add(path, $"expected {Describe(type)}, got null");
                return false;
            }
            if (TryParseScalar(type, node.Value!, out value)) return true;
            errors.Add(path, WhyNot(type, node.Value!));
            return false;
        }
        if (type.IsEnum)
        {
            if (children.Count > 0) { errors.Add(path, $"expected one of {AcceptedOf(type)}, got a section or list"); return false; }
            if (empty)
            {
                if (nullable) return true;
                errors.Add(path, $"expected one of {AcceptedOf(type)}, got null");
                return false;
            }
            if (TryParseEnum(type, node.Value!, out value)) return true;
            errors.Add(path, $"unknown value '{node.Value}'; expected one of {AcceptedOf(type)}");
            return false;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var itemType = type.GetGenericArguments()[0];
            if (isNull && nullable) return true;
            var list = (System.Collections.IList)Activator.CreateInstance(type)!;
            if (empty) { value = list; return true; }
            if (children.Count == 0 || children.Any(c => !int.TryParse(c.Key, out _)))
            {
                errors.Add(path, $"expected a list (for example [a, b]), got {(children.Count == 0 ? $"'{node.Value}'" : "a section")}");
                return false;
            }
            bool ok = true;
            foreach (var item in children.OrderBy(c => int.Parse(c.Key, CultureInfo.InvariantCulture)))
            {
                if (TryBindValue(itemType, false, item, $"{path}[{item.Key}]", errors, allPaths, out var v)) list.Add(v);
                else ok = false;
            }
            value = list;
            return ok;
        }
        if (type.IsClass)
        {
            if (empty)
            {
                value = nullable ? null : Activator.CreateInstance(type);
                return true;
            }
            if (children.Count == 0) { errors.Add(path, $"expected a section (an object of keys), got '{node.Value}'"); return false; }
            value = BindSection(type, children, path, errors, allPaths);
            return true;
        }
        throw new NotSupportedException($"config property type {type} at {path} is not supported by ConfigBinder");
    }

    static bool TryParseScalar(Type type, string text, out object? value)
    {
        var inv = CultureInfo.InvariantCulture;
        value = null;
        if (type == typeof(string)) { value = text; return true; }
        if (type == typeof(int) && int.TryParse(text, NumberStyles.Integer, inv, out var i)) { value = i; return true; }
        if (type == typeof(long) && long.TryParse(text, NumberStyles.Integer, inv, out var l)) { value = l; return true; }
        // 1e400 parses as infinity, and "Infinity"/"NaN" parse too: a config number must be finite.
        if (type == typeof(double) && double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d)) { value = d; return true; }
        if (type == typeof(bool) && bool.TryParse(text, out var b)) { value = b; return true; }
        return false;
    }

    // Typed vocabulary (AmpMode): spelled as ConfigNames gives, aliases included.
    static bool TryParseEnum(Type type, string text, out object? value)
    {
        var args = new object?[] { text, null };
        bool ok = (bool)typeof(ConfigNames).GetMethod(nameof(ConfigNames.TryParse))!.MakeGenericMethod(type).Invoke(null, args)!;
        value = ok ? args[1] : null;
        return ok;
    }

    static string AcceptedOf(Type type) =>
        (string)typeof(ConfigNames).GetMethod(nameof(ConfigNames.Accepted))!.MakeGenericMethod(type).Invoke(null, null)!;

    /// <summary>Why <paramref name="text"/> is not a <paramref name="type"/>: out of range, not finite, or not a number.</summary>
    static string WhyNot(Type type, string text)
    {
        var inv = CultureInfo.InvariantCulture;
        bool isNumber = double.TryParse(text, NumberStyles.Float, inv, out var d);
        // YAML spells them .inf and .nan.
        if (System.Text.RegularExpressions.Regex.IsMatch(text, @"^[-+]?\.(inf|Inf|INF)$")) (isNumber, d) = (true, double.PositiveInfinity);
        if (System.Text.RegularExpressions.Regex.IsMatch(text, @"^\.(nan|NaN|NAN)$")) (isNumber, d) = (true, double.NaN);
        if (type == typeof(double) && isNumber)
            return $"expected a finite number, got '{text}' ({(double.IsNaN(d) ? "not a number" : "infinite")})";
        if ((type == typeof(int) || type == typeof(long)) && isNumber && double.IsFinite(d) && Math.Floor(d) == d)
        {
            var (min, max) = type == typeof(int) ? ((double)int.MinValue, (double)int.MaxValue) : (long.MinValue, long.MaxValue);
            if (d < min || d > max) return $"expected an integer, got '{text}', out of range (at most {max.ToString(inv)})";
        }
        return $"expected {Describe(type)}, got '{text}'";
    }

    static string Describe(Type t) =>
        t == typeof(int) || t == typeof(long) ? "an integer" :
        t == typeof(double) ? "a number" :
        t == typeof(bool) ? "true or false" : "a string";

    static void CollectPaths(Type type, string path, List<string> into)
    {
        foreach (var p in Keys(type))
        {
            string child = ConfigErrors.Join(path, KeyOf(p));
            into.Add(child);
            var t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            if (t.IsClass && t != typeof(string) && !t.IsGenericType) CollectPaths(t, child, into);
        }
    }
}
