#!/usr/bin/perl
# mail_dkim.pl — helper of tests/interop/dkim_interop.sh: Mail::DKIM
# (libmail-dkim-perl) as signer and verifier, with a fake DNS.
#
# Mail::DKIM 1.20230212 (Debian 12) has no Ed25519: it is used for rsa-sha256 only.
#
#   mail_dkim.pl verify --dns FILE [--sigs N] [--expect pass|fail] [--rsa-only] MSG...
#       one line per check on stdout: pass|fail <TAB> MSG[#index] <TAB> detail
#       --rsa-only: judge only the rsa-sha256 signatures (N counts those)
#   mail_dkim.pl sign --key PEM JOBS
#       JOBS lines (tab-separated): in out method headers
#       method: relaxed, simple, relaxed/simple, simple/relaxed (Mail::DKIM's Method)
#       headers: "-" (Mail::DKIM's default list), "headers:a:b" (the Headers
#       option: added to the default list), "extended:From=+,Subject=+,..."
#       (extended_headers(): count, "*" or "+" per field)
#       Signs the CRLF form of "in" (Mail::DKIM wants CRLF); writes signature + message.
#
# The fake DNS reads "name value" lines; the value TIMEOUT makes the query die
# as a timeout would. Mail::DKIM::DNS::query is replaced, so no resolver is used.
use strict;
use warnings;
use Mail::DKIM::Signer;
use Mail::DKIM::Verifier;
use Mail::DKIM::PrivateKey;
use Net::DNS;

my $cmd = shift @ARGV // die "usage: mail_dkim.pl verify|sign ...\n";
my %opt = (sigs => 1, expect => 'pass', 'rsa-only' => 0);
while (@ARGV && $ARGV[0] =~ /^--(dns|sigs|expect|key|rsa-only)$/) {
    shift @ARGV;
    $opt{$1} = $1 eq 'rsa-only' ? 1 : shift @ARGV;
}

sub slurp { my ($f) = @_; open(my $fh, '<:raw', $f) or return undef; local $/; my $x = <$fh>; close $fh; return $x; }
sub clean { my ($s) = @_; $s //= ''; $s =~ s/[\t\r\n]+/ /g; return $s; }
sub line { my ($ok, $name, $detail) = @_; print(($ok ? 'pass' : 'fail') . "\t$name\t" . clean($detail) . "\n"); }

if ($cmd eq 'verify') {
    my %DNS;
    open(my $d, '<', $opt{dns}) or die "$opt{dns}: $!";
    while (<$d>) { chomp; next unless length; my ($n, $v) = split / /, $_, 2; $n =~ s/\.$//; $DNS{lc $n} = $v // ''; }
    close $d;
    no warnings 'redefine';
    *Mail::DKIM::DNS::query = sub {
        my ($name, $type) = @_;
        $name =~ s/\.$//;
        my $v = $DNS{lc $name};
        unless (defined $v) { $@ = 'NXDOMAIN'; return (); }
        die "DNS query timeout for $name\n" if $v eq 'TIMEOUT';
        my @chunks = length $v ? ($v =~ /(.{1,255})/gs) : ('');
        $@ = 'NOERROR';
        return (Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => [@chunks]));
    };
    use warnings 'redefine';
    $| = 1;
    for my $f (@ARGV) {
        my $msg = slurp($f);
        unless (defined $msg) { line(0, $f, 'missing (signing failed)'); next; }
        $msg =~ s/\r?\n/\r\n/g;    # Mail::DKIM reads the SMTP (CRLF) form
        my $v = Mail::DKIM::Verifier->new();
        $v->PRINT($msg);
        $v->CLOSE;
        my @s = $v->signatures;
        @s = grep { lc($_->algorithm // '') eq 'rsa-sha256' } @s if $opt{'rsa-only'};
        if ($opt{expect} eq 'fail') {
            my @p = grep { $s[$_]->result eq 'pass' } 0 .. $#s;
            line(!@p, $f, 'Mail::DKIM: ' . join('; ', map { $_->result . ' (' . ($_->result_detail // '') . ')' } @s)
                 . (@p ? " - passed signature(s) @p" : ''));
            next;
        }
        if (@s != $opt{sigs}) {
            line(0, $opt{sigs} > 1 ? "$f#$_" : $f, "Mail::DKIM found " . scalar(@s) . " signatures, expected $opt{sigs}")
              for 0 .. $opt{sigs} - 1;
            next;
        }
        for my $i (0 .. $#s) {
            my $name = $opt{sigs} > 1 ? "$f#$i" : $f;
            line($s[$i]->result eq 'pass', $name, 'Mail::DKIM: ' . ($s[$i]->result_detail // $s[$i]->result));
        }
    }
}
elsif ($cmd eq 'sign') {
    my $key = Mail::DKIM::PrivateKey->load(File => $opt{key});
    my $jobs = shift @ARGV or die "sign: no JOBS file\n";
    open(my $j, '<', $jobs) or die "$jobs: $!";
    my $bad = 0;
    while (my $l = <$j>) {
        chomp $l;
        next unless length $l;
        my ($in, $out, $method, $hdrs) = split /\t/, $l;
        my $msg = slurp($in) // die "$in: $!";
        $msg =~ s/\r?\n/\r\n/g;
        my %args = (Algorithm => 'rsa-sha256', Method => $method, Domain => 'example.org',
                    Selector => 'rsa2048', Key => $key);
        $args{Headers} = $1 if $hdrs =~ /^headers:(.*)$/;
        my $ok = eval {
            my $s = Mail::DKIM::Signer->new(%args);
            if ($hdrs =~ /^extended:(.*)$/) {
                $s->extended_headers({ map { split /=/, $_, 2 } split /,/, $1 });
            }
            $s->PRINT($msg);
            $s->CLOSE;
            open(my $fh, '>:raw', $out) or die "$out: $!";
            print $fh $s->signature->as_string . "\r\n" . $msg;
            close $fh;
            1;
        };
        unless ($ok) { print STDERR "Mail::DKIM sign $in ($method $hdrs): $@"; $bad++; }
    }
    print STDERR "Mail::DKIM sign: $bad messages could not be signed\n" if $bad;
}
else { die "usage: mail_dkim.pl verify|sign ...\n"; }
