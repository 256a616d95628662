using System.Collections;
using System.Reflection;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>
/// Replaces a submodule by its dotted name, the way PyTorch's setattr(parent, name, new) does: the parent's field that
/// holds the old module (or its entry in a list, e.g. Sequential's) is set to the new one, and the registry entry
/// follows. A field whose declared type cannot hold the new module is reported with the fix.
/// </summary>
public static class ModuleReplacer
{
    const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    /// <summary>The module at a dotted path ("layer1.0.conv1"), or throws naming the missing part.</summary>
    public static nn.Module Get(nn.Module root, string path)
    {
        var m = root;
        foreach (var part in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
            m = m.named_children().FirstOrDefault(c => c.name == part).module
                ?? throw new ArgumentException($"module '{path}' not found: '{part}' is not a child");
        return m;
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="path"/> is.</summary>
    public static void Replace(nn.Module root, string path, nn.Module replacement)
    {
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? root : Get(root, path[..dot]);
        string name = path[(dot + 1)..];
        var old = Get(parent, name);
        bool placed = false;
        for (var t = parent.GetType(); t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var f in t.GetFields(Instance | BindingFlags.DeclaredOnly))
            {
                var value = f.GetValue(parent);
                if (ReferenceEquals(value, old))
                {
                    if (!f.FieldType.IsInstanceOfType(replacement))
                        throw new NotSupportedException(
                            $"cannot put {replacement.GetType().Name} at '{path}': field {t.Name}.{f.Name} is declared as {f.FieldType.Name}. " +
                            "Fix: declare that field as nn.Module<Tensor, Tensor> so a sparse module can take its place.");
                    f.SetValue(parent, replacement);
                    placed = true;
                }
                else if (value is IList list && !(value is Array) && ReplaceInList(list, old, replacement)) placed = true;
                else if (value is IDictionary dict) placed |= ReplaceInDictionary(dict, old, replacement);
                else if (value is not null && value is not nn.Module) placed |= ReplaceInGenericDictionary(value, old, replacement);
            }
        }
        if (!placed) throw new NotSupportedException($"could not find the field that holds '{path}' in {parent.GetType().Name}");
    }

    static bool ReplaceInList(IList list, object old, object replacement)
    {
        bool any = false;
        for (int i = 0; i < list.Count; i++)
        {
            var item = list[i];
            if (ReferenceEquals(item, old)) { list[i] = replacement; any = true; }
            else if (item is not null && item.GetType().IsGenericType && item.GetType().Name.StartsWith("ValueTuple"))
            {
                // TorchSharp keeps (name, module) pairs in some containers.
                var fields = item.GetType().GetFields();
                if (fields.Length == 2 && ReferenceEquals(fields[1].GetValue(item), old))
                {
                    list[i] = Activator.CreateInstance(item.GetType(), fields[0].GetValue(item), replacement);
                    any = true;
                }
            }
        }
        return any;
    }

    /// <summary>TorchSharp's module registry is an OrderedDict&lt;string, Module&gt; (generic IDictionary only).</summary>
    static bool ReplaceInGenericDictionary(object value, object old, object replacement)
    {
        var iface = value.GetType().GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>)
                                                                       && i.GetGenericArguments()[1].IsInstanceOfType(replacement));
        if (iface is null) return false;
        var keysProp = iface.GetProperty("Keys")!; var item = iface.GetProperty("Item")!;
        var keys = ((IEnumerable)keysProp.GetValue(value)!).Cast<object>().ToList();
        bool any = false;
        foreach (var k in keys)
            if (ReferenceEquals(item.GetValue(value, new[] { k }), old)) { item.SetValue(value, replacement, new[] { k }); any = true; }
        return any;
    }

    static bool ReplaceInDictionary(IDictionary dict, object old, object replacement)
    {
        var keys = dict.Keys.Cast<object>().Where(k => ReferenceEquals(dict[k], old)).ToList();
        foreach (var k in keys) dict[k] = replacement;
        return keys.Count > 0;
    }
}
