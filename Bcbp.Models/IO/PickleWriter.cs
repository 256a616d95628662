using System.Buffers.Binary;
using System.Text;

namespace Bcbp.Models.IO;

/// <summary>
/// Writes a state dict as the protocol-2 pickle that <c>torch.save</c> produces: an <c>OrderedDict</c> of
/// <c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())</c> calls whose
/// storages are persistent ids <c>('storage', torch.XStorage, key, 'cpu', numel)</c>. It uses only opcodes and
/// globals that <c>torch.load(weights_only=True)</c> accepts.
/// </summary>
public sealed class PickleWriter
{
    private readonly MemoryStream buffer = new();

    /// <summary>One tensor entry: name, storage key, storage class (e.g. FloatStorage), size; contiguous, offset 0.</summary>
    public readonly record struct Entry(string Name, string StorageKey, string StorageClass, long[] Size);

    /// <summary>The pickle bytes of a state dict with the given entries, in order.</summary>
    public static byte[] StateDict(IEnumerable<Entry> entries)
    {
        var w = new PickleWriter();
        w.Op(PickleOpcode.Proto); w.Op(2);
        w.NewOrderedDict();
        w.Op(PickleOpcode.Mark);
        foreach (var e in entries)
        {
            w.String(e.Name);
            w.Global("torch._utils", "_rebuild_tensor_v2");
            w.Op(PickleOpcode.Mark);
            // Persistent id of the storage.
            w.Op(PickleOpcode.Mark);
            w.String("storage");
            w.Global("torch", e.StorageClass);
            w.String(e.StorageKey);
            w.String("cpu");
            w.Int(e.Size.Aggregate(1L, (a, b) => a * b));
            w.Op(PickleOpcode.Tuple);
            w.Op(PickleOpcode.BinPersId);
            w.Int(0);
            w.IntTuple(e.Size);
            w.IntTuple(ContiguousStrides(e.Size));
            w.Op(PickleOpcode.NewFalse);
            w.NewOrderedDict(); // backward hooks
            w.Op(PickleOpcode.Tuple);
            w.Op(PickleOpcode.Reduce);
        }
        w.Op(PickleOpcode.SetItems);
        w.Op(PickleOpcode.Stop);
        return w.buffer.ToArray();
    }

    /// <summary>Row-major strides of a contiguous tensor of the given size.</summary>
    public static long[] ContiguousStrides(long[] size)
    {
        var stride = new long[size.Length];
        long s = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            stride[d] = s;
            s *= Math.Max(size[d], 1);
        }
        return stride;
    }

    private void Op(byte op) => buffer.WriteByte(op);

    private void NewOrderedDict()
    {
        Global("collections", "OrderedDict");
        Op(PickleOpcode.EmptyTuple);
        Op(PickleOpcode.Reduce);
    }

    private void Global(string module, string name)
    {
        Op(PickleOpcode.Global);
        buffer.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    private void String(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)bytes.Length);
        Op(PickleOpcode.BinUnicode);
        buffer.Write(len);
        buffer.Write(bytes);
    }

    private void Int(long v)
    {
        Span<byte> b = stackalloc byte[8];
        if (v is >= 0 and <= byte.MaxValue) { Op(PickleOpcode.BinInt1); Op((byte)v); }
        else if (v is >= 0 and <= ushort.MaxValue) { Op(PickleOpcode.BinInt2); BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); buffer.Write(b[..2]); }
        else if (v is >= int.MinValue and <= int.MaxValue) { Op(PickleOpcode.BinInt); BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); buffer.Write(b[..4]); }
        else { Op(PickleOpcode.Long1); Op(8); BinaryPrimitives.WriteInt64LittleEndian(b, v); buffer.Write(b); }
    }

    private void IntTuple(long[] values)
    {
        if (values.Length == 0) { Op(PickleOpcode.EmptyTuple); return; }
        Op(PickleOpcode.Mark);
        foreach (var v in values) Int(v);
        Op(PickleOpcode.Tuple);
    }
}
