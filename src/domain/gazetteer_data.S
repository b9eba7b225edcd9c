/* The gazetteer data file, embedded in the executable so that start-up needs
 * no data path. Rebuilt by scripts/build-gazetteer.sh. */
    .section .rodata
    .global gromo_gazetteer_tsv
    .global gromo_gazetteer_tsv_end
    .balign 16
gromo_gazetteer_tsv:
    .incbin "data/pincodes.tsv"
gromo_gazetteer_tsv_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
