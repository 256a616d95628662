namespace Bcbp.Models.IO;

/// <summary>The pickle opcodes a state dict needs (read and written); names as in Python's <c>pickletools</c>.</summary>
public static class PickleOpcode
{
    public const byte Mark = (byte)'(';
    public const byte Stop = (byte)'.';
    public const byte Pop = (byte)'0';
    public const byte PopMark = (byte)'1';
    public const byte Dup = (byte)'2';
    public const byte BinInt = (byte)'J';
    public const byte BinInt1 = (byte)'K';
    public const byte BinInt2 = (byte)'M';
    public const byte None = (byte)'N';
    public const byte BinPersId = (byte)'Q';
    public const byte Reduce = (byte)'R';
    public const byte BinString = (byte)'T';
    public const byte ShortBinString = (byte)'U';
    public const byte BinUnicode = (byte)'X';
    public const byte Append = (byte)'a';
    public const byte Build = (byte)'b';
    public const byte Global = (byte)'c';
    public const byte Appends = (byte)'e';
    public const byte BinGet = (byte)'h';
    public const byte LongBinGet = (byte)'j';
    public const byte EmptyList = (byte)']';
    public const byte BinPut = (byte)'q';
    public const byte LongBinPut = (byte)'r';
    public const byte SetItem = (byte)'s';
    public const byte Tuple = (byte)'t';
    public const byte SetItems = (byte)'u';
    public const byte EmptyDict = (byte)'}';
    public const byte EmptyTuple = (byte)')';
    public const byte BinFloat = (byte)'G';
    public const byte Proto = 0x80;
    public const byte Tuple1 = 0x85;
    public const byte Tuple2 = 0x86;
    public const byte Tuple3 = 0x87;
    public const byte NewTrue = 0x88;
    public const byte NewFalse = 0x89;
    public const byte Long1 = 0x8a;
    public const byte BinBytes = (byte)'B';
    public const byte ShortBinBytes = (byte)'C';
    public const byte ShortBinUnicode = 0x8c;
    public const byte BinUnicode8 = 0x8d;
    public const byte BinBytes8 = 0x8e;
    public const byte StackGlobal = 0x93;
    public const byte Memoize = 0x94;
    public const byte Frame = 0x95;
    /// <summary>Python 2's text integer (<c>I00</c> / <c>I01</c> are False / True); data pickles only.</summary>
    public const byte Int = (byte)'I';

    /// <summary>pickletools' name of any opcode, so a refused one is reported by name.</summary>
    public static string Name(byte op) => op switch
    {
        Int => "INT", (byte)'L' => "LONG", (byte)'S' => "STRING", (byte)'V' => "UNICODE", (byte)'F' => "FLOAT",
        (byte)'P' => "PERSID", (byte)'i' => "INST", (byte)'o' => "OBJ", (byte)'p' => "PUT", (byte)'g' => "GET",
        (byte)'l' => "LIST", (byte)'d' => "DICT", 0x81 => "NEWOBJ", 0x92 => "NEWOBJ_EX", 0x82 => "EXT1", 0x83 => "EXT2",
        0x84 => "EXT4", 0x8b => "LONG4", 0x8f => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8", 0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
        Mark => "MARK", Stop => "STOP", Pop => "POP", PopMark => "POP_MARK", Dup => "DUP", BinInt => "BININT",
        BinInt1 => "BININT1", BinInt2 => "BININT2", None => "NONE", BinPersId => "BINPERSID", Reduce => "REDUCE",
        BinString => "BINSTRING", ShortBinString => "SHORT_BINSTRING", BinUnicode => "BINUNICODE", Append => "APPEND",
        Build => "BUILD", Global => "GLOBAL", Appends => "APPENDS", BinGet => "BINGET", LongBinGet => "LONG_BINGET",
        EmptyList => "EMPTY_LIST", BinPut => "BINPUT", LongBinPut => "LONG_BINPUT", SetItem => "SETITEM",
        Tuple => "TUPLE", SetItems => "SETITEMS", EmptyDict => "EMPTY_DICT", EmptyTuple => "EMPTY_TUPLE",
        BinFloat => "BINFLOAT", Proto => "PROTO", Tuple1 => "TUPLE1", Tuple2 => "TUPLE2", Tuple3 => "TUPLE3",
        NewTrue => "NEWTRUE", NewFalse => "NEWFALSE", Long1 => "LONG1", BinBytes => "BINBYTES",
        ShortBinBytes => "SHORT_BINBYTES", ShortBinUnicode => "SHORT_BINUNICODE", BinUnicode8 => "BINUNICODE8",
        BinBytes8 => "BINBYTES8", StackGlobal => "STACK_GLOBAL", Memoize => "MEMOIZE", Frame => "FRAME",
        _ => "unknown",
    };
}
