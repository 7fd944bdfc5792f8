#!/usr/bin/perl
# sisimai_dump.pl FILE... - what Sisimai (libsisimai-perl) reads in each
# bounce: one JSON line per file, {"file":..,"recipients":[{address,
# reason, kind, status}]} (kind hard|soft|"" as Sisimai's soft_or_hard).
# Helper of tests/interop/bounce_sisimai.sh.
use strict;
use warnings;
use Sisimai;
use JSON::PP;

my $json = JSON::PP->new->canonical(1);
for my $file (@ARGV) {
    my $found = eval { Sisimai->make($file) } || [];
    my @rcpts;
    for my $d (@$found) {
        push @rcpts, {
            'address' => lc($d->recipient->address // ''),
            'reason'  => $d->reason // '',
            'kind'    => $d->softbounce == 1 ? 'soft' : $d->softbounce == 0 ? 'hard' : '',
            'status'  => $d->deliverystatus // '',
        };
    }
    print $json->encode({ 'file' => $file, 'recipients' => \@rcpts }), "\n";
}
