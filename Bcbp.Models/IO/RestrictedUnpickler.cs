using System.Buffers.Binary;
using System.Text;

namespace Bcbp.Models.IO;

/// <summary>
/// A pickle reader for PyTorch state dicts that never runs code: it interprets the binary opcodes a
/// <c>torch.save(state_dict)</c> pickle uses and a whitelist of globals (<c>collections.OrderedDict</c>,
/// <c>torch._utils._rebuild_tensor_v2</c> / <c>_rebuild_parameter</c>, <c>torch.*Storage</c>); every other opcode or
/// global is an <see cref="InvalidDataException"/> naming it. Tensors come back as <see cref="TensorReference"/>,
/// dicts as <see cref="OrderedDictionary{TKey,TValue}"/>, lists as <see cref="List{T}"/>, tuples as
/// <see cref="PickleTuple"/>, ints as long, floats as double. <see cref="LoadData"/> also accepts numpy arrays, for
/// data pickles such as torchvision's CIFAR batches.
/// </summary>
public sealed class RestrictedUnpickler
{
    private static readonly HashSet<(string, string)> Callables = new()
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch", "Size"),
    };

    /// <summary>The extra globals of <see cref="LoadData"/>: numpy's array and dtype rebuilders, and <c>_codecs.encode</c>,
    /// with which Python 3 writes <c>bytes</c> in protocol 2. They are interpreted here, never imported.</summary>
    private static readonly HashSet<(string, string)> NumpyCallables = new()
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    };

    // Strict: a name that is not UTF-8 is refused naming the file, instead of silently becoming U+FFFD.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] data;
    private readonly string source;
    private readonly bool numpy;
    private readonly List<object?> stack = new();
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = new();
    private readonly Dictionary<string, StorageReference> storages = new();
    private int pos;

    private RestrictedUnpickler(byte[] data, string source, bool numpy = false)
    {
        this.data = data;
        this.source = source;
        this.numpy = numpy;
    }

    /// <summary>Reads one pickled object from <paramref name="data"/>; <paramref name="source"/> names it in errors.</summary>
    public static object? Load(byte[] data, string source) => new RestrictedUnpickler(data, source).Run();

    /// <summary>As <see cref="Load"/>, also accepting numpy arrays (returned as <see cref="NumpyArray"/>) and Python 2's
    /// INT opcode: a data pickle such as a CIFAR batch (a dict of arrays, lists and strings). Still no code runs.</summary>
    public static object? LoadData(byte[] data, string source) => new RestrictedUnpickler(data, source, numpy: true).Run();

    private object? Run()
    {
        while (true)
        {
            if (pos >= data.Length) throw Error("ends without STOP (truncated)");
            int at = pos;
            byte op = data[pos++];
            switch (op)
            {
                case PickleOpcode.Proto:
                    if (ReadByte() > 5) throw Error($"uses pickle protocol {data[pos - 1]}, newer than 5");
                    break;
                case PickleOpcode.Frame: ReadBytes(8); break;
                case PickleOpcode.Stop: return Pop();
                case PickleOpcode.Mark: marks.Push(stack.Count); break;
                case PickleOpcode.Pop: Pop(); break;
                case PickleOpcode.PopMark: PopMarked(); break;
                case PickleOpcode.Dup: Push(Peek()); break;
                case PickleOpcode.None: Push(null); break;
                case PickleOpcode.NewTrue: Push(true); break;
                case PickleOpcode.NewFalse: Push(false); break;
                case PickleOpcode.BinInt: Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;
                case PickleOpcode.BinInt1: Push((long)ReadByte()); break;
                case PickleOpcode.BinInt2: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;
                case PickleOpcode.Long1: Push(ReadLong1()); break;
                case PickleOpcode.BinFloat: Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;
                case PickleOpcode.BinUnicode: Push(Utf8String(ReadLength(4))); break;
                case PickleOpcode.ShortBinUnicode: Push(Utf8String(ReadByte())); break;
                case PickleOpcode.BinUnicode8: Push(Utf8String(ReadLength(8))); break;
                case PickleOpcode.BinString: Push(Encoding.Latin1.GetString(ReadBytes(ReadLength(4)))); break;
                case PickleOpcode.ShortBinString: Push(Encoding.Latin1.GetString(ReadBytes(ReadByte()))); break;
                case PickleOpcode.BinBytes: Push(ReadBytes(ReadLength(4)).ToArray()); break;
                case PickleOpcode.ShortBinBytes: Push(ReadBytes(ReadByte()).ToArray()); break;
                case PickleOpcode.BinBytes8: Push(ReadBytes(ReadLength(8)).ToArray()); break;
                case PickleOpcode.EmptyTuple: Push(new PickleTuple(Array.Empty<object?>())); break;
                case PickleOpcode.Tuple: Push(new PickleTuple(PopMarked().ToArray())); break;
                case PickleOpcode.Tuple1: Push(new PickleTuple(PopN(1))); break;
                case PickleOpcode.Tuple2: Push(new PickleTuple(PopN(2))); break;
                case PickleOpcode.Tuple3: Push(new PickleTuple(PopN(3))); break;
                case PickleOpcode.EmptyList: Push(new List<object?>()); break;
                case PickleOpcode.Append: { var item = Pop(); As<List<object?>>(Peek(), "APPEND").Add(item); break; }
                case PickleOpcode.Appends: { var items = PopMarked(); As<List<object?>>(Peek(), "APPENDS").AddRange(items); break; }
                case PickleOpcode.EmptyDict: Push(new OrderedDictionary<object, object?>()); break;
                case PickleOpcode.SetItem: { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v); break; }
                case PickleOpcode.SetItems:
                {
                    var items = PopMarked();
                    if (items.Count % 2 != 0) throw Error("SETITEMS with an odd number of items");
                    var dict = Peek();
                    for (int i = 0; i < items.Count; i += 2) SetItem(dict, items[i], items[i + 1]);
                    break;
                }
                case PickleOpcode.BinPut: memo[ReadByte()] = Peek(); break;
                case PickleOpcode.LongBinPut: memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break;
                case PickleOpcode.Memoize: memo[memo.Count] = Peek(); break;
                case PickleOpcode.BinGet: Push(Recall(ReadByte())); break;
                case PickleOpcode.LongBinGet: Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break;
                case PickleOpcode.Global:
                {
                    var module = ReadLine();
                    var name = ReadLine();
                    Push(Resolve(module, name, at));
                    break;
                }
                case PickleOpcode.StackGlobal:
                {
                    var name = As<string>(Pop(), "STACK_GLOBAL name");
                    var module = As<string>(Pop(), "STACK_GLOBAL module");
                    Push(Resolve(module, name, at));
                    break;
                }
                case PickleOpcode.Reduce:
                {
                    var args = As<PickleTuple>(Pop(), "REDUCE arguments");
                    var callable = As<PickleGlobal>(Pop(), "REDUCE callable");
                    Push(Call(callable, args.Items, at));
                    break;
                }
                case PickleOpcode.Build:
                {
                    var state = Pop();
                    if (numpy && Peek() is NumpyArray or NumpyDType) { BuildNumpy(Peek(), state, at); break; }
                    // OrderedDict state is the state dict's `_metadata` (module versions): not needed to load weights.
                    if (Peek() is not OrderedDictionary<object, object?> || state is not (OrderedDictionary<object, object?> or PickleTuple))
                        throw Error($"BUILD on {Describe(Peek())} is not part of a state dict", at);
                    break;
                }
                case PickleOpcode.BinPersId: Push(PersistentLoad(Pop(), at)); break;
                case PickleOpcode.Int when numpy:
                {
                    var text = ReadLine();
                    Push(text switch { "00" => false, "01" => true, _ => long.TryParse(text, out var v) ? v : throw Error($"has an INT '{text}' that is not an integer", at) });
                    break;
                }
                default:
                    throw Error($"uses pickle opcode 0x{op:x2} ({PickleOpcode.Name(op)}), which a state dict never needs; refused", at);
            }
        }
    }

    /// <summary>Only whitelisted names become globals; anything else could run code in Python, so it is refused.</summary>
    private PickleGlobal Resolve(string module, string name, int at)
    {
        if (Callables.Contains((module, name)) || numpy && NumpyCallables.Contains((module, name))) return new PickleGlobal(module, name);
        if (module == "torch" && name.EndsWith("Storage", StringComparison.Ordinal))
        {
            if (TorchDTypes.FromStorageName(name) is null)
                throw Error($"holds a tensor of unsupported dtype torch.{Printable.Of(name)}; supported: {TorchDTypes.Supported}", at);
            return new PickleGlobal(module, name);
        }
        throw Error(
            $"asks for the global '{Printable.Of(module)}.{Printable.Of(name)}', which is not on the state-dict whitelist (collections.OrderedDict, " +
            "torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage). Refused: loading never runs code, and " +
            "the file may be malicious. If it is a whole pickled model (torch.save(model)), re-save model.state_dict() instead", at);
    }

    private object? Call(PickleGlobal callable, object?[] args, int at)
    {
        switch (callable.Module, callable.Name)
        {
            case ("collections", "OrderedDict"):
                return NewOrderedDict(args, at);
            case ("torch", "Size"):
                return args.Length == 1 && args[0] is PickleTuple size ? size : throw Error("torch.Size expects one tuple", at);
            case ("torch._utils", "_rebuild_tensor" or "_rebuild_tensor_v2"):
                if (args.Length < 4) throw Error($"{callable} with {args.Length} arguments (expected storage, offset, size, stride, ...)", at);
                return new TensorReference(
                    args[0] as StorageReference ?? throw Error($"{callable}: first argument is {Describe(args[0])}, not a storage", at),
                    AsLong(args[1], "storage offset", at), Longs(args[2], "size", at), Longs(args[3], "stride", at));
            case ("torch._utils", "_rebuild_parameter" or "_rebuild_parameter_with_state"):
                return args.Length >= 1 && args[0] is TensorReference t ? t : throw Error($"{callable} without a tensor", at);
            case ("numpy.core.multiarray" or "numpy._core.multiarray", "_reconstruct"):
                return args.Length == 3 && args[0] is PickleGlobal { Module: "numpy", Name: "ndarray" }
                    ? new NumpyArray() : throw Error($"{callable} is not rebuilding a numpy.ndarray", at);
            case ("numpy", "dtype"):
                return args.Length >= 1 && args[0] is string dtype ? new NumpyDType(dtype) : throw Error("numpy.dtype without a type name", at);
            case ("_codecs", "encode"):
                return args is [string text, "latin1" or "latin-1"] ? Encoding.Latin1.GetBytes(text) : throw Error("_codecs.encode other than (str, 'latin1')", at);
            default:
                throw Error($"calls {callable}, which is not callable here", at);
        }
    }

    /// <summary>numpy's <c>ndarray.__setstate__((version, shape, dtype, is_fortran, data))</c>; a dtype's own state
    /// (byte order, alignment) is accepted and not needed: the dtype name carries the type.</summary>
    private void BuildNumpy(object? target, object? state, int at)
    {
        if (target is NumpyDType) return;
        if (state is not PickleTuple { Items: [long, PickleTuple shape, NumpyDType dtype, bool fortran, var raw] })
            throw Error($"numpy array state {Describe(state)} is not (version, shape, dtype, is_fortran, data)", at);
        var bytes = raw switch
        {
            byte[] b => b,
            string s => Encoding.Latin1.GetBytes(s), // Python 2 wrote the data as a byte string
            _ => throw Error($"numpy array data is {Describe(raw)}, not bytes (an object array?)", at),
        };
        ((NumpyArray)target!).SetState(Longs(shape, "numpy array shape", at), dtype.Name, fortran, bytes);
    }

    /// <summary>
    /// <c>OrderedDict()</c> as torch.save writes it, or <c>OrderedDict(())</c> as TorchSharp.PyBridge's save_py writes
    /// it (an empty tuple or list of items); items come through SETITEMS, never as arguments.
    /// </summary>
    private OrderedDictionary<object, object?> NewOrderedDict(object?[] args, int at)
        => args is [] or [PickleTuple { Items: [] }] or [List<object?> { Count: 0 }]
            ? new OrderedDictionary<object, object?>()
            : throw Error($"collections.OrderedDict called with {Describe(new PickleTuple(args))}; a state dict passes no items as arguments", at);

    /// <summary>torch.save's persistent id of a storage: ('storage', torch.XStorage, key, location, numel).</summary>
    private StorageReference PersistentLoad(object? pid, int at)
    {
        if (pid is not PickleTuple { Items: ["storage", PickleGlobal type, string key, string, long numel] })
            throw Error($"has a persistent id {Describe(pid)}, expected ('storage', torch.XStorage, key, location, numel)", at);
        if (numel < 0) throw Error($"declares storage '{Printable.Of(key)}' with {numel} elements", at);
        var dtype = TorchDTypes.FromStorageName(type.Name) ?? throw Error($"persistent id names {type}, not a storage type", at);
        if (storages.TryGetValue(key, out var existing))
        {
            if (existing.DType != dtype || existing.Numel != numel)
                throw Error($"declares storage '{Printable.Of(key)}' twice with different dtype or size", at);
            return existing;
        }
        return storages[key] = new StorageReference(key, dtype, numel);
    }

    private void SetItem(object? target, object? key, object? value)
    {
        var dict = As<OrderedDictionary<object, object?>>(target, "SETITEM target");
        if (key is not (string or long or bool or double)) throw Error($"dict key {Describe(key)} is not a str/int");
        dict[key] = value;
    }

    private long ReadLong1()
    {
        int n = ReadByte();
        if (n > 8) throw Error($"has a LONG1 integer of {n} bytes (more than 64 bits)");
        var bytes = ReadBytes(n);
        long value = 0;
        for (int i = n - 1; i >= 0; i--) value = (value << 8) | bytes[i];
        if (n > 0 && n < 8 && (bytes[n - 1] & 0x80) != 0) value -= 1L << (8 * n);
        return value;
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0) throw Error("ends inside a GLOBAL name (truncated)");
        var s = Encoding.ASCII.GetString(data, pos, end - pos);
        pos = end + 1;
        return s;
    }

    private int ReadLength(int bytes)
    {
        ulong n = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)) : BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));
        if (n > (ulong)(data.Length - pos)) throw Error($"declares a {n}-byte string at byte {pos}, past the end (truncated)");
        return (int)n;
    }

    private byte ReadByte() => ReadBytes(1)[0];

    private string Utf8String(int n)
    {
        int at = pos;
        try { return Utf8.GetString(ReadBytes(n)); }
        catch (DecoderFallbackException) { throw Error($"has a {n}-byte string that is not valid UTF-8 (a corrupt tensor name?)", at); }
    }

    private ReadOnlySpan<byte> ReadBytes(int n)
    {
        if (n > data.Length - pos) throw Error($"ends at byte {data.Length} in the middle of an opcode argument (truncated)");
        var span = data.AsSpan(pos, n);
        pos += n;
        return span;
    }

    private void Push(object? value) => stack.Add(value);

    private object? Peek() => stack.Count > (marks.Count > 0 ? marks.Peek() : 0)
        ? stack[^1] : throw Error("reads past the bottom of its stack");

    private object? Pop()
    {
        var value = Peek();
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    private object?[] PopN(int n)
    {
        var items = new object?[n];
        for (int i = n - 1; i >= 0; i--) items[i] = Pop();
        return items;
    }

    private List<object?> PopMarked()
    {
        if (marks.Count == 0) throw Error("uses a MARK that was never set");
        int mark = marks.Pop();
        var items = stack.GetRange(mark, stack.Count - mark);
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    private object? Recall(long index)
        => memo.TryGetValue(index, out var v) ? v : throw Error($"reads memo entry {index}, which was never stored");

    private T As<T>(object? value, string what)
        => value is T t ? t : throw Error($"{what} is {Describe(value)}, expected {typeof(T).Name}");

    private long AsLong(object? value, string what, int at)
        => value is long l ? l : throw Error($"{what} is {Describe(value)}, not an int", at);

    private long[] Longs(object? value, string what, int at)
        => value is PickleTuple t ? t.Items.Select(i => AsLong(i, what, at)).ToArray() : throw Error($"{what} is {Describe(value)}, not a tuple", at);

    /// <summary>A short description for errors; depth-limited, since a hostile pickle can nest tuples a million deep.</summary>
    private static string Describe(object? value, int depth = 0) => value switch
    {
        null => "None",
        string s => $"'{Printable.Of(s, 80)}'",
        PickleTuple when depth >= 2 => "(...)",
        PickleTuple t => $"({string.Join(", ", t.Items.Take(6).Select(i => Describe(i, depth + 1)))}{(t.Items.Length > 6 ? ", ..." : "")})",
        _ => value.GetType().Name + (value is long or double or bool ? $" {value}" : ""),
    };

    private InvalidDataException Error(string message, int? at = null)
        => new($"{source}: the pickle {message} (byte {at ?? pos}).");
}
