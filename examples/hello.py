"""The classic TF1 program, in graphc."""
import graphc as gc

a = gc.constant([1.0, 2.0])
b = gc.constant([3.0, 4.0])
c = gc.add(a, b)

with gc.Session() as sess:
    print(sess.run(c))  # [4. 6.]
